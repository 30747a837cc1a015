"""The store's named state changes, held to one behaviour in memory and on SQLite.

Each change is guarded (it happens only from the state it expects) and appends the audit
event that explains it; retries, failures, replays, corrections and the sweeper's claims
leave exactly the fields and details a person or a script reads afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from pipeline.domain.changes import CategoryCorrection, FailedAttempt, Reopening
from pipeline.domain.lifecycle import Queue, Stage, TicketStatus
from pipeline.ports import TicketRepository
from pipeline.settings import Settings
from pipeline.store.memory import InMemoryTicketRepository
from pipeline.store.schema import utcnow
from pipeline.wiring import open_store
from tests.conftest import submit
from tests.support.tickets import force, force_status


@pytest.fixture(params=["memory", "sqlite"])
def repo(request: pytest.FixtureRequest, settings: Settings) -> Iterator[TicketRepository]:
    if request.param == "memory":
        yield InMemoryTicketRepository()
        return
    sql = open_store(settings)
    yield sql
    sql.engine.dispose()


def test_a_failed_attempt_counts_and_keeps_its_error(repo: TicketRepository) -> None:
    ticket_id = submit(repo)
    failure = FailedAttempt(Stage.classify, "LLM 503", retry_in_s=2.04, attempt=1)
    assert repo.record_attempt(ticket_id, failure)
    ticket = repo.get(ticket_id)
    assert (ticket.status, ticket.attempts, ticket.last_error) == ("received", 1, "LLM 503")
    assert ticket.retrying_since is not None and ticket.next_attempt_at is None
    first_since = ticket.retrying_since
    event = repo.audit_trail(ticket_id)[-1]
    assert (event.stage, event.event, event.attempt) == ("classify", "attempt_failed", 1)
    assert event.detail == {"error": "LLM 503", "retry_in_s": 2.0, "deferred": False}

    again = FailedAttempt(Stage.classify, "LLM 504", retry_in_s=4, attempt=2)
    assert repo.record_attempt(ticket_id, again)
    ticket = repo.get(ticket_id)
    assert (ticket.attempts, ticket.last_error) == (2, "LLM 504")
    assert ticket.retrying_since == first_since  # retrying since the first failure


def test_a_wait_of_our_own_uses_no_retry_and_a_deferral_is_kept(repo: TicketRepository) -> None:
    ticket_id = submit(repo)
    before = utcnow()
    wait = FailedAttempt(
        Stage.classify, "budget", retry_in_s=600, attempt=1, counts_as_attempt=False, defer=True
    )
    assert repo.record_attempt(ticket_id, wait)
    ticket = repo.get(ticket_id)
    assert ticket.attempts == 0 and ticket.last_error == "budget"
    assert ticket.next_attempt_at is not None
    assert before + timedelta(seconds=599) < ticket.next_attempt_at
    assert ticket.next_attempt_at < utcnow() + timedelta(seconds=601)
    event = repo.audit_trail(ticket_id)[-1]
    assert (event.event, event.detail["deferred"]) == ("waiting", True)


def test_an_attempt_at_the_wrong_stage_changes_nothing(repo: TicketRepository) -> None:
    ticket_id = submit(repo)
    route_failure = FailedAttempt(Stage.route, "503", retry_in_s=1, attempt=1)
    assert not repo.record_attempt(ticket_id, route_failure)
    assert repo.get(ticket_id).attempts == 0
    assert len(repo.audit_trail(ticket_id)) == 1
    assert not repo.record_attempt("00000000-0000-0000-0000-000000000000", route_failure)


def test_failing_keeps_where_and_why(repo: TicketRepository) -> None:
    ticket_id = submit(repo)
    force_status(repo, ticket_id, TicketStatus.classified, next_attempt_at=utcnow())
    assert repo.fail(ticket_id, Stage.route, error="410 Gone", permanent=True, attempt=3)
    ticket = repo.get(ticket_id)
    assert (ticket.status, ticket.failed_stage, ticket.last_error) == (
        "failed",
        "route",
        "410 Gone",
    )
    assert ticket.next_attempt_at is None
    event = repo.audit_trail(ticket_id)[-1]
    assert (event.stage, event.event, event.attempt) == ("route", "failed", 3)
    assert event.detail == {"error": "410 Gone", "permanent": True}
    assert not repo.fail(ticket_id, Stage.route, error="x", permanent=False, attempt=4)


def test_a_reopening_starts_a_clean_run(repo: TicketRepository) -> None:
    ticket_id = submit(repo)
    force_status(
        repo,
        ticket_id,
        TicketStatus.failed,
        failed_stage="route",
        last_error="e",
        finished_at=utcnow(),
        review_reason="unsure",
        generation=1,
    )
    reopening = Reopening.of(repo.get(ticket_id), Stage.route, "ops")
    assert repo.reopen(reopening)
    ticket = repo.get(ticket_id)
    assert (ticket.status, ticket.generation, ticket.failed_stage) == ("classified", 2, None)
    assert (ticket.last_error, ticket.finished_at, ticket.next_attempt_at) == (None, None, None)
    assert ticket.review_reason == "unsure"  # a route re-run keeps a classify-time reason
    event = repo.audit_trail(ticket_id)[-1]
    assert (event.stage, event.event) == ("route", "reopened")
    assert event.detail == {"from_status": "failed", "by": "ops", "generation": 2}
    assert not repo.reopen(reopening)  # no longer failed


def test_a_correction_that_reroutes_opens_a_generation(repo: TicketRepository) -> None:
    ticket_id = submit(repo)
    force_status(
        repo,
        ticket_id,
        TicketStatus.needs_review,
        category="billing",
        review_reason="unsure",
        finished_at=utcnow(),
    )
    correction = CategoryCorrection(
        ticket_id,
        TicketStatus.needs_review,
        "billing",
        "shipping",
        "logistics",
        True,
        2,
        "ann@example",
    )
    assert repo.correct(correction)
    ticket = repo.get(ticket_id)
    assert (ticket.status, ticket.category, ticket.known_category) == (
        "classified",
        "shipping",
        "shipping",
    )
    assert (ticket.confidence, ticket.classifier, ticket.model) == (1.0, "person", "ann@example")
    assert (ticket.review_reason, ticket.generation, ticket.finished_at) == (None, 2, None)
    event = repo.audit_trail(ticket_id)[-1]
    assert (event.stage, event.event) == ("classify", "corrected")
    assert event.detail == {
        "from": "billing",
        "to": "shipping",
        "by": "ann@example",
        "rerouted": True,
        "department": "logistics",
    }


def test_a_correction_to_the_same_department_stays_final(repo: TicketRepository) -> None:
    ticket_id = submit(repo)
    force_status(repo, ticket_id, TicketStatus.done, category="billing", department="finance")
    correction = CategoryCorrection(
        ticket_id, TicketStatus.done, "billing", "refund", "finance", False, 1, "ann"
    )
    assert repo.correct(correction)
    ticket = repo.get(ticket_id)
    assert (ticket.status, ticket.category, ticket.generation) == ("done", "refund", 1)
    stale = CategoryCorrection(
        ticket_id, TicketStatus.needs_review, "refund", "sales", "sales", True, 2, "ann"
    )
    assert not repo.correct(stale)


def test_the_sweeper_claims_what_is_overdue_once(repo: TicketRepository) -> None:
    stuck = submit(repo, external_id="stuck")
    fresh = submit(repo, external_id="fresh")
    due = submit(repo, external_id="due")
    later = submit(repo, external_id="later")
    done = submit(repo, external_id="done")
    long_ago = utcnow() - timedelta(minutes=10)
    force_status(repo, stuck, TicketStatus.classified, updated_at=long_ago)
    force(repo, due, next_attempt_at=utcnow() - timedelta(seconds=1))
    force(repo, later, next_attempt_at=utcnow() + timedelta(hours=1), updated_at=long_ago)
    force_status(repo, done, TicketStatus.done, updated_at=long_ago)
    claimed = repo.claim_overdue(sweep_after_s=60)
    by_id = {c.ticket_id: c for c in claimed}
    assert set(by_id) == {stuck, due}
    assert (by_id[stuck].stage, by_id[stuck].queue) == (Stage.route, Queue.live)
    assert by_id[due].stage is Stage.classify
    assert fresh not in by_id
    event = repo.audit_trail(stuck)[-1]
    assert (event.stage, event.event) == ("route", "requeued")
    assert 595 < event.detail["waited_s"] < 700
    assert repo.get(due).next_attempt_at is None
    assert repo.claim_overdue(sweep_after_s=60) == []  # claimed: not again until overdue again
    assert len(repo.claim_overdue(sweep_after_s=0, limit=1)) == 1


def test_a_fetch_fills_a_received_ticket_once(repo: TicketRepository) -> None:
    from pipeline.ports import FetchedTicket

    ticket_id = submit(repo)
    fetched = FetchedTicket(
        "Parcel", "It never came", "cus_1", extra={"helpdesk": {"connector": "zendesk"}}
    )
    assert repo.fill_fetched(ticket_id, fetched, attempt=2)
    ticket = repo.get(ticket_id)
    assert (ticket.subject, ticket.description, ticket.customer_id, ticket.status) == (
        "Parcel",
        "It never came",
        "cus_1",
        "received",
    )
    event = repo.audit_trail(ticket_id)[-1]
    assert (event.stage, event.event, event.attempt) == ("classify", "fetched", 2)
    assert event.detail == {
        "connector": "zendesk",
        "fields": ["customer_id", "description", "extra", "subject"],
    }
    force_status(repo, ticket_id, TicketStatus.classified)
    assert not repo.fill_fetched(ticket_id, fetched, attempt=3)
    assert len(repo.audit_trail(ticket_id)) == 2
