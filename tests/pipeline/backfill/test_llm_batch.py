"""`--llm-batch` end to end on the store: submit, poll, record, against the stub Batch API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from pipeline.adapters.decision_cache import InMemoryDecisionCache
from pipeline.adapters.llm_budget import build_budget
from pipeline.backfill.llm_batch import (
    collect_batch,
    load_job_groups,
    run_llm_batch,
    submit_job_tickets,
)
from pipeline.classifiers.gemini.classifier import GeminiClassifier
from pipeline.classifiers.group_prompt import GROUP_PROMPT_VERSION
from pipeline.domain.errors import LLMUnavailable
from pipeline.domain.lifecycle import TicketStatus
from pipeline.operations.sweeper import claim_overdue_tickets
from pipeline.settings import Settings
from pipeline.store.schema import utcnow
from pipeline.store.tickets import TicketStore
from pipeline.testing.gemini_batches import BatchPlan
from pipeline.testing.gemini_responses import (
    answer_every_ticket,
    error_response,
    group_answer_json,
    prompt_ticket_ids,
    text_response,
)
from pipeline.testing.gemini_stub import GeminiStub, running_stub
from tests.conftest import submit

JOB = "job-llm-batch"
CATEGORIES = {"billing": "charges", "shipping": "parcels", "technical": "bugs"}


@pytest.fixture
def stub() -> Iterator[GeminiStub]:
    with running_stub() as server:
        server.inline_responder = answer_every_ticket
        server.batch_plan = BatchPlan(polls=2)
        yield server


@pytest.fixture
def gemini(stub: GeminiStub) -> Iterator[GeminiClassifier]:
    settings = Settings(
        gemini_api_key="k", gemini_base_url=stub.url, broker_url="memory://", redis_url=None
    )
    classifier = GeminiClassifier(
        settings, CATEGORIES, budget=build_budget(settings), cache=InMemoryDecisionCache(60)
    )
    yield classifier
    classifier.close()


def job_tickets(store: TicketStore, count: int, job_id: str = JOB) -> list[str]:
    """Backfilled tickets of a job, each mentioning a phone number, in load order."""
    ids = [
        submit(store, subject=f"Invoice {n}", description=f"Call me on +44 20 7946 09{n:02d}")
        for n in range(count)
    ]
    for ticket_id in ids:
        store.overwrite_for_tests(ticket_id, job_id=job_id, queue="backfill")
    order = [t.id for group in load_job_groups(store, job_id, 1000) for t in group]
    assert sorted(order) == sorted(ids)
    return order


def events(store: TicketStore, ticket_id: str) -> list[tuple[str, dict[str, object]]]:
    return [(e.event, e.detail) for e in store.audit_trail(ticket_id)]


def run(
    store: TicketStore, gemini: GeminiClassifier, *, timeout_s: float = 10, max_requests: int = 500
) -> tuple[list[str], list[str], list[str]]:
    """run_llm_batch in groups of 2, polling fast; (classified, left, progress lines)."""
    lines: list[str] = []
    classified, left = run_llm_batch(
        store,
        gemini,
        JOB,
        group_size=2,
        poll_interval_s=0.01,
        timeout_s=timeout_s,
        progress=lines.append,
        max_requests_per_job=max_requests,
    )
    return classified, left, lines


def inline_requests(stub: GeminiStub) -> list[dict[str, object]]:
    return [request for batch in stub.batch_list() for request in batch.requests]


def test_a_job_is_classified_through_one_batch(
    store: TicketStore, gemini: GeminiClassifier, stub: GeminiStub
) -> None:
    ids = job_tickets(store, 5)
    other = submit(store, subject="not in the job")
    classified, left, lines = run(store, gemini)

    assert (classified, left) == (ids, [])
    [batch] = stub.batch_list()
    assert len(batch.requests) == 3  # groups of 2, 2, 1
    for index, group in enumerate([ids[0:2], ids[2:4], ids[4:]]):
        assert prompt_ticket_ids(batch.inner_request(index)) == group
    create = next(r for r in stub.recorded() if r.method == "POST")
    assert create.body["batch"]["displayName"] == f"triage-backfill {JOB}"
    assert "7946" not in create.text and "[phone]" in create.text
    assert "results" in create.text and "application/json" in create.text
    assert store.get(other).status == TicketStatus.received  # not the job's

    for ticket_id in ids:
        ticket = store.get(ticket_id)
        assert (ticket.status, ticket.category) == (TicketStatus.classified, "billing")
        assert ticket.next_attempt_at is None
        trail = events(store, ticket_id)
        assert [event for event, _ in trail] == ["received", "batch_submitted", "classified"]
        detail = trail[-1][1]
        assert detail["llm_batch"] == batch.name and detail["grouped"] is True
        assert (detail["provider"], detail["model"]) == ("gemini", "gemini-2.5-flash")
        assert detail["prompt_version"] == GROUP_PROMPT_VERSION
        assert detail["category"] == "billing" and detail["pii_masked"] == ["phone"]
    assert any("pending" in line for line in lines) and any("running" in line for line in lines)
    assert any("5 classified, 0 left" in line for line in lines)


def test_a_partial_answer_leaves_the_rest_received(
    store: TicketStore, gemini: GeminiClassifier, stub: GeminiStub
) -> None:
    ids = job_tickets(store, 6)
    stub.enqueue_inline(
        text_response(group_answer_json([ids[1]], "shipping")),  # ids[0] missing
        None,  # the second group got no response
        error_response(500, "INTERNAL"),  # the third failed
    )
    classified, left, _ = run(store, gemini)

    assert classified == [ids[1]]
    assert left == [ids[0], *ids[2:]]
    assert store.get(ids[1]).category == "shipping"
    for ticket_id in left:
        ticket = store.get(ticket_id)
        assert ticket.status == TicketStatus.received and ticket.next_attempt_at is None
        event, detail = events(store, ticket_id)[-1]
        assert event == "batch_unanswered" and detail["llm_batch"] == "batches/stub-1"


def test_a_failed_job_leaves_every_ticket_received(
    store: TicketStore, gemini: GeminiClassifier, stub: GeminiStub
) -> None:
    ids = job_tickets(store, 3)
    stub.plan_batches(BatchPlan(outcome="failed", polls=1))
    classified, left, lines = run(store, gemini)

    assert (classified, left) == ([], ids)
    assert store.count_by_status(ids) == {"received": 3}
    assert any("failed" in line for line in lines)
    assert all(events(store, i)[-1][1]["why"] == "no answer (batch failed)" for i in ids)


def test_many_groups_become_several_jobs(
    store: TicketStore, gemini: GeminiClassifier, stub: GeminiStub
) -> None:
    ids = job_tickets(store, 5)
    stub.plan_batches(BatchPlan(polls=1), BatchPlan(polls=3))
    classified, left, _ = run(store, gemini, max_requests=2)

    assert (sorted(classified), left) == (sorted(ids), [])
    assert [len(b.requests) for b in stub.batch_list()] == [2, 1]
    assert len(inline_requests(stub)) == 3


def test_a_timeout_cancels_the_job_and_leaves_its_tickets(
    store: TicketStore, gemini: GeminiClassifier, stub: GeminiStub
) -> None:
    ids = job_tickets(store, 2)
    stub.plan_batches(BatchPlan(polls=10_000))
    classified, left, lines = run(store, gemini, timeout_s=0.3)

    assert (classified, left) == ([], ids)
    assert stub.batch_list()[0].cancelled
    assert any(r.path == "/v1beta/batches/stub-1:cancel" for r in stub.recorded())
    assert any("timed out" in line for line in lines)


def test_submitted_tickets_are_held_from_the_sweeper_until_collected(
    store: TicketStore, gemini: GeminiClassifier, stub: GeminiStub
) -> None:
    ids = job_tickets(store, 3)
    [name] = submit_job_tickets(store, gemini, JOB, 2)
    groups = load_job_groups(store, JOB, 2)

    held = store.get(ids[0]).next_attempt_at
    assert isinstance(held, datetime) and held > utcnow()
    assert claim_overdue_tickets(store, sweep_after_s=0) == []  # the sweeper leaves them alone
    with pytest.raises(LLMUnavailable):  # still pending: nothing recorded, nothing released
        collect_batch(store, gemini, name, groups)
    assert store.count_by_status(ids) == {"received": 3}

    stub.batches[name].polls = 99  # the job has finished meanwhile
    classified, left = collect_batch(store, gemini, name, groups)
    assert (classified, left) == (ids, [])
    assert submit_job_tickets(store, gemini, JOB, 2) == []  # nothing left to submit
