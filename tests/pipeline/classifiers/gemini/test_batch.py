"""The Gemini Batch API on the real google-genai SDK against our stub server on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from google.genai import types

from pipeline.adapters.decision_cache import InMemoryDecisionCache
from pipeline.classifiers.gemini.batch import (
    BatchState,
    batch_results,
    batch_state,
    chunk_groups,
    fetch_batch,
    poll_batch,
    submit_batch,
)
from pipeline.classifiers.gemini.classifier import GeminiClassifier
from pipeline.domain.classification import TicketText
from pipeline.domain.errors import (
    ConfigurationError,
    LLMBudgetExhausted,
    LLMRejected,
    LLMUnavailable,
)
from pipeline.settings import Settings
from pipeline.testing.gemini_batches import BatchPlan
from pipeline.testing.gemini_responses import (
    answer_every_ticket,
    error_response,
    group_answer_json,
    text_response,
)
from pipeline.testing.gemini_stub import GeminiStub, running_stub

CATEGORIES = {"billing": "charges", "shipping": "parcels", "technical": "bugs"}


class CountingBudget:
    """Grants after `refusals` refusals of `wait` seconds; records every acquisition."""

    def __init__(self, refusals: int = 0, wait: float = 0.05) -> None:
        self.refusals, self.wait = refusals, wait
        self.acquired: list[tuple[int, str]] = []
        self.recorded: list[tuple[int, int, str]] = []

    def try_acquire(self, tokens: int, *, queue: str = "live") -> float:
        if self.refusals:
            self.refusals -= 1
            return self.wait
        self.acquired.append((tokens, queue))
        return 0.0

    def record_tokens(self, actual: int, *, estimated: int, queue: str = "live") -> None:
        self.recorded.append((actual, estimated, queue))


@pytest.fixture
def stub() -> Iterator[GeminiStub]:
    with running_stub() as server:
        server.inline_responder = answer_every_ticket
        server.batch_plan = BatchPlan(polls=2)
        yield server


def make_gemini(stub: GeminiStub, budget: Any = None) -> GeminiClassifier:
    settings = Settings(
        gemini_api_key="k", gemini_base_url=stub.url, broker_url="memory://", redis_url=None
    )
    return GeminiClassifier(
        settings, CATEGORIES, budget=budget or CountingBudget(), cache=InMemoryDecisionCache(60)
    )


def groups_of(*sizes: int) -> list[list[TicketText]]:
    """Groups of tickets g<i>t<j>, each description carrying a phone number and an e-mail."""
    return [
        [
            TicketText(
                id=f"g{g}t{t}",
                subject=f"subject {g}/{t}",
                description=f"call +44 20 7946 01{g}{t} or mail ann.lee{g}{t}@example.com",
            )
            for t in range(size)
        ]
        for g, size in enumerate(sizes)
    ]


def ids(group: list[TicketText]) -> list[str]:
    return [t.id for t in group]


def test_chunks_by_request_count_and_size() -> None:
    groups = groups_of(2, 2, 2, 2, 2)
    assert [len(c) for c in chunk_groups(groups, 2)] == [2, 2, 1]
    by_size = chunk_groups(groups, 10, max_chars=600)  # each group is ~260 characters
    assert [len(c) for c in by_size] == [2, 2, 1]
    assert [g for c in by_size for g in c] == groups  # order kept
    assert [len(c) for c in chunk_groups(groups, 10, max_chars=1)] == [1] * 5  # never empty
    assert chunk_groups([], 3) == []
    with pytest.raises(ValueError):
        chunk_groups(groups, 0)


def test_every_sdk_job_state_has_a_state() -> None:
    assert {batch_state(s) for s in types.JobState} == set(BatchState)
    assert batch_state(types.JobState.JOB_STATE_PARTIALLY_SUCCEEDED) is BatchState.succeeded
    assert batch_state(None) is BatchState.pending
    assert [s for s in BatchState if s.done] == ["succeeded", "failed", "cancelled", "expired"]


def test_submit_sends_one_grouped_request_per_group(stub: GeminiStub) -> None:
    budget = CountingBudget()
    groups = groups_of(3, 2, 1)

    name = submit_batch(make_gemini(stub, budget), groups, display_name="triage-test")

    assert name == "batches/stub-1"
    [create] = stub.recorded()
    # The Batch API's documented version, whatever the SDK's default for other calls.
    assert (create.method, create.path) == (
        "POST",
        "/v1beta/models/gemini-2.5-flash:batchGenerateContent",
    )
    assert create.body["batch"]["displayName"] == "triage-test"
    inline = create.body["batch"]["inputConfig"]["requests"]["requests"]
    assert len(inline) == len(groups)
    for index, (sent, group) in enumerate(zip(inline, groups, strict=True)):
        request = sent["request"]
        contents = "".join(p["text"] for c in request["contents"] for p in c["parts"])
        assert all(f'id="{ticket_id}"' in contents for ticket_id in ids(group))
        assert sent["metadata"] == {"group": str(index)}
        assert request["model"] == "models/gemini-2.5-flash"
        assert "Decide for EACH ticket" in request["systemInstruction"]["parts"][0]["text"]
        config = request["generationConfig"]
        assert config["responseMimeType"] == "application/json"
        assert config["temperature"] == 0
        assert "results" in json.dumps(config["responseSchema"])
    assert "7946" not in create.text and "example.com" not in create.text  # PII masked
    assert "[phone]" in create.text and "[email]" in create.text
    assert [queue for _, queue in budget.acquired] == ["backfill"] * 3  # one per request


def test_poll_walks_pending_running_then_succeeded(stub: GeminiStub) -> None:
    gemini = make_gemini(stub)
    name = submit_batch(gemini, groups_of(1))
    states = [poll_batch(gemini, name) for _ in range(4)]
    assert states == ["pending", "running", "succeeded", "succeeded"]
    assert [r.method for r in stub.recorded()] == ["POST", "GET", "GET", "GET", "GET"]
    assert stub.recorded()[-1].path == f"/v1beta/{name}"


def test_results_keep_valid_answers_and_drop_the_rest(stub: GeminiStub) -> None:
    budget = CountingBudget()
    gemini = make_gemini(stub, budget)
    groups = groups_of(2, 2, 2, 2, 1)
    stub.enqueue_inline(
        text_response(group_answer_json(["g0t0", "g0t1"], "shipping")),
        text_response(group_answer_json(["g1t1", "g0t0"])),  # partial, plus another group's id
        None,  # no response at all
        error_response(500, "INTERNAL"),
        text_response("not json"),
    )
    stub.batch_plan = BatchPlan(polls=0)
    name = submit_batch(gemini, groups)

    answers = batch_results(gemini, name, groups)

    assert {k: v.category for k, v in answers.items()} == {
        "g0t0": "shipping",
        "g0t1": "shipping",
        "g1t1": "billing",
    }
    assert answers["g1t1"].model == "gemini-2.5-flash/triage-group-v2"
    assert len(budget.recorded) == 2  # the usage of both answered requests is charged


def test_responses_pair_with_groups_by_their_metadata(stub: GeminiStub) -> None:
    gemini = make_gemini(stub)
    groups = groups_of(2, 2, 2)
    stub.batch_plan = BatchPlan(polls=0)
    name = submit_batch(gemini, groups)
    assert poll_batch(gemini, name) is BatchState.succeeded
    batch = stub.batches[name]
    assert batch.responses is not None
    batch.responses.reverse()  # the provider's order is not ours to rely on

    outcome = fetch_batch(gemini, name, groups)

    assert sorted(outcome.answers) == sorted(i for g in groups for i in ids(g))
    assert outcome.groups["g2t1"]["group_size"] == 2
    assert outcome.groups["g2t1"]["pii_masked"] == ["email", "phone"]
    for response in batch.responses:  # without metadata, position decides
        response.pop("metadata")
    assert set(batch_results(gemini, name, groups)) == {"g1t0", "g1t1"}  # middle stays put


def test_a_failed_job_has_no_results(stub: GeminiStub) -> None:
    gemini = make_gemini(stub)
    stub.plan_batches(BatchPlan(outcome="failed", polls=1))
    name = submit_batch(gemini, groups_of(2))
    assert poll_batch(gemini, name) is BatchState.pending
    assert poll_batch(gemini, name) is BatchState.failed
    assert batch_results(gemini, name, groups_of(2)) == {}


def test_budget_refusals_wait_then_submit(stub: GeminiStub) -> None:
    budget = CountingBudget(refusals=2, wait=0.25)
    slept: list[float] = []
    submit_batch(make_gemini(stub, budget), groups_of(1, 1), sleep=slept.append)
    assert slept == [0.25, 0.25] and len(budget.acquired) == 2


def test_budget_past_the_deadline_submits_nothing(stub: GeminiStub) -> None:
    import time

    budget = CountingBudget(refusals=1, wait=30)
    with pytest.raises(LLMBudgetExhausted):
        submit_batch(make_gemini(stub, budget), groups_of(1), deadline=time.monotonic() + 1)
    assert stub.recorded() == []


def test_api_errors_are_mapped(stub: GeminiStub) -> None:
    gemini = make_gemini(stub)
    stub.fail_next_batch_create(
        error_response(429, "RESOURCE_EXHAUSTED", retry_delay="7s"),
        error_response(400, "INVALID_ARGUMENT", "bad request"),
    )
    with pytest.raises(LLMUnavailable) as transient:
        submit_batch(gemini, groups_of(1))
    assert transient.value.retry_after == 7
    with pytest.raises(LLMRejected):
        submit_batch(gemini, groups_of(1))
    with pytest.raises(LLMRejected):  # 404: the job is unknown
        poll_batch(gemini, "batches/nope")


def test_vertex_ai_is_refused_before_spending_budget(stub: GeminiStub) -> None:
    budget = CountingBudget()
    gemini = make_gemini(stub, budget)
    gemini.transport.client = SimpleNamespace(vertexai=True)  # type: ignore[assignment]
    with pytest.raises(ConfigurationError):
        submit_batch(gemini, groups_of(1))
    assert budget.acquired == []


def test_inline_requests_fall_back_to_the_stubs_normal_responder() -> None:
    with running_stub(default=answer_every_ticket) as server:
        server.batch_plan = BatchPlan(polls=0)
        gemini = make_gemini(server)
        groups = groups_of(2, 1)
        name = submit_batch(gemini, groups)
        assert set(batch_results(gemini, name, groups)) == {"g0t0", "g0t1", "g1t0"}
        assert [r.method for r in server.recorded()] == ["POST", "GET"]  # no generateContent
