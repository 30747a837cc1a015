"""What the `classified` event says about a decision: its queue, its time, the cascade's step.

Run on both repositories (tests/pipeline/stages/conftest.py). A backfill ticket is charged to
the backfill queue's LLM share and audited as such; `latency_ms` is the classifier's own
time in milliseconds (to the hundredth); a cascade's event keeps the local answer it weighed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest

from pipeline.adapters.decision_cache import InMemoryDecisionCache
from pipeline.classifiers.cascade import CascadeClassifier
from pipeline.classifiers.llm import LLMClassifier
from pipeline.classifiers.scripted import ScriptedClassifier, ScriptedTransport
from pipeline.domain.classification import ClassifierResult, TicketText
from pipeline.domain.lifecycle import Queue
from pipeline.domain.models import TicketSubmission, payload_fingerprint
from pipeline.ports import TicketRepository
from pipeline.stages.classify import classify_ticket
from pipeline.testing.gemini_responses import classification_json
from tests.conftest import decision, submit


@dataclass
class QueueBudget:
    """An open LLM budget that remembers which queue's share each call was taken from."""

    queues: list[str] = field(default_factory=list)

    def try_acquire(self, tokens: int, *, queue: str = "live") -> float:
        self.queues.append(queue)
        return 0.0

    def record_tokens(self, actual: int, *, estimated: int, queue: str = "live") -> None:
        pass


def submit_backfill(store: TicketRepository) -> str:
    body = {"subject": "Invoice", "description": "I was charged twice", "customer_id": "c1"}
    return store.accept(
        TicketSubmission.model_validate(body),
        source="import",
        idempotency_key=None,
        payload_hash=payload_fingerprint(body),
        queue=Queue.backfill,
    ).ticket.id


def test_a_backfill_ticket_is_classified_on_the_backfill_queue(store: TicketRepository) -> None:
    budget = QueueBudget()
    llm = LLMClassifier(  # its own default queue is live: the ticket's queue must win
        ScriptedTransport(classification_json()),
        {"billing": "charges"},
        model="m",
        budget=budget,
        cache=InMemoryDecisionCache(60),
    )
    ticket_id = submit_backfill(store)
    classify_ticket(store, llm, ticket_id)
    event = store.audit_trail(ticket_id)[-1]
    assert (event.event, event.detail["provider"], event.detail["queue"]) == (
        "classified",
        "scripted-llm",
        "backfill",
    )
    assert budget.queues == ["backfill"]


@dataclass
class TimedClassifier:
    """A classifier port that takes `seconds` of a fake clock to answer."""

    clock: list[float]
    seconds: float
    name: str = "scripted"
    model_version: str = "scripted-1"

    def classify_with_details(
        self, ticket: TicketText, *, queue: str | None = None
    ) -> ClassifierResult:
        self.clock[0] += self.seconds
        return ClassifierResult(decision("billing"))


def test_the_latency_is_the_classifiers_time_in_milliseconds(
    store: TicketRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    ticket_id = submit(store)
    classify_ticket(store, TimedClassifier(clock, seconds=0.0123456), ticket_id)  # type: ignore[arg-type]
    assert store.audit_trail(ticket_id)[-1].detail["latency_ms"] == 12.35


def test_a_cascade_settled_locally_is_audited_with_its_step(store: TicketRepository) -> None:
    local = ScriptedClassifier(default=decision("shipping", 0.91))
    never = ScriptedClassifier(default=decision("billing", 0.99))
    ticket_id = submit(store)
    classify_ticket(store, CascadeClassifier(local, never, threshold=0.85), ticket_id)
    detail = store.audit_trail(ticket_id)[-1].detail
    assert (detail["category"], detail["confidence"]) == ("shipping", 0.91)
    assert {k: detail[k] for k in ("cascade_threshold", "local_category", "answered_by")} == {
        "cascade_threshold": 0.85,
        "local_category": "shipping",
        "answered_by": "scripted",
    }
    assert detail["local_confidence"] == 0.91 and "llm_call" not in detail
