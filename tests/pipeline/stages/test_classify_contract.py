"""The classify stage's contract: the decision on the ticket and what the trail keeps of it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.classification import Classification, Sentiment, Urgency
from pipeline.domain.lifecycle import Stage, TicketStatus
from pipeline.stages.classify import classify_ticket, decision_audit, own_review_reason
from pipeline.store.memory import InMemoryTicketRepository
from pipeline.store.tickets import TicketStore
from tests.conftest import submit
from tests.support.tickets import force_status

AnyStore = TicketStore | InMemoryTicketRepository
ANSWER = Classification(
    category="shipping",
    urgency=Urgency.high,
    language="de",
    confidence=0.876543,
    urgency_confidence=0.612345,
    sentiment=Sentiment.negative,
    sentiment_confidence=0.555555,
    reason="parcel late",
    classifier="scripted",
    model="scripted-1",
)


def test_the_decision_is_stored_and_audited_without_its_reason(store: AnyStore) -> None:
    ticket_id = submit(store)
    outcome = classify_ticket(store, ScriptedClassifier(default=ANSWER), ticket_id, attempt=2)
    assert (outcome.stage, outcome.result, outcome.did_work) == (
        Stage.classify,
        "classified as shipping",
        True,
    )
    ticket = store.get(ticket_id)
    assert (ticket.status, ticket.category, ticket.urgency, ticket.language) == (
        "classified",
        "shipping",
        "high",
        "de",
    )
    assert (ticket.sentiment, ticket.reason, ticket.classifier, ticket.model) == (
        "negative",
        "parcel late",
        "scripted",
        "scripted-1",
    )
    assert ticket.review_reason is None
    event = store.audit_trail(ticket_id)[-1]
    assert (event.stage, event.event, event.attempt) == ("classify", "classified", 2)
    detail = dict(event.detail)
    assert isinstance(detail.pop("latency_ms"), float)
    assert detail == {
        "category": "shipping",
        "urgency": "high",
        "language": "de",
        "confidence": 0.8765,
        "urgency_confidence": 0.6123,
        "sentiment": "negative",
        "sentiment_confidence": 0.5556,
        "classifier": "scripted",
        "model": "scripted-1",
    }
    assert "parcel late" not in str(event.detail)


def test_a_fallback_decision_goes_to_review_and_says_so(store: AnyStore) -> None:
    ticket_id = submit(store)
    classify_ticket(
        store, ScriptedClassifier(default=ANSWER), ticket_id, review_reason="LLM down: local"
    )
    assert store.get(ticket_id).review_reason == "LLM down: local"
    assert store.audit_trail(ticket_id)[-1].detail["fallback"] == "LLM down: local"


def test_only_a_received_ticket_is_classified(store: AnyStore) -> None:
    ticket_id = submit(store)
    force_status(store, ticket_id, TicketStatus.routed)
    classifier = ScriptedClassifier(default=ANSWER)
    outcome = classify_ticket(store, classifier, ticket_id)
    assert (outcome.did_work, outcome.result) == (False, "skipped (ticket is routed)")
    assert classifier.seen == []


@dataclass
class Local(ScriptedClassifier):
    review_threshold: float | None = 0.8


def local(confidence: float, classifier: str = "local") -> Classification:
    return ANSWER.model_copy(update={"confidence": confidence, "classifier": classifier})


def test_a_local_model_sends_below_its_own_threshold_to_review(store: AnyStore) -> None:
    ticket_id = submit(store)
    classify_ticket(store, Local(default=local(0.7)), ticket_id)
    reason = "confidence 0.70 below the local model's review threshold 0.80"
    assert store.get(ticket_id).review_reason == reason
    assert store.audit_trail(ticket_id)[-1].detail["review"] == reason


@pytest.mark.parametrize(
    ("classifier", "decision", "expected"),
    [
        (Local(default=ANSWER), local(0.8), None),  # at the threshold: trusted
        (Local(default=ANSWER), local(0.79), "below"),
        (Local(default=ANSWER), local(0.1, "gemini"), None),  # an LLM's answer: not its call
        (Local(default=ANSWER, review_threshold=None), local(0.1), None),
        (ScriptedClassifier(default=ANSWER), local(0.1), None),
    ],
)
def test_own_review_reason(
    classifier: ScriptedClassifier, decision: Classification, expected: str | None
) -> None:
    reason = own_review_reason(classifier, decision)
    assert (reason is None) if expected is None else (reason is not None and expected in reason)


def test_decision_audit_lists_runners_up_only_when_there_are_some() -> None:
    assert "alternatives" not in decision_audit(ANSWER, 1.0)
    bare = ANSWER.model_copy(update={"urgency_confidence": None, "sentiment_confidence": None})
    audit = decision_audit(bare, 3.5)
    assert (audit["urgency_confidence"], audit["sentiment_confidence"], audit["latency_ms"]) == (
        None,
        None,
        3.5,
    )


class Clock:
    """perf_counter on a hand clock: each reading is 0.25 s after the one before."""

    def __init__(self) -> None:
        self.now = 100.0

    def perf_counter(self) -> float:
        self.now += 0.25
        return self.now


def test_latency_is_the_classifier_call_in_milliseconds(
    store: AnyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.stages import classify

    monkeypatch.setattr(classify, "time", Clock())
    ticket_id = submit(store)
    classify_ticket(store, ScriptedClassifier(default=ANSWER), ticket_id)
    assert store.audit_trail(ticket_id)[-1].detail["latency_ms"] == 250.0


def test_the_outcome_names_its_ticket_and_a_default_first_attempt(store: AnyStore) -> None:
    ticket_id = submit(store)
    outcome = classify_ticket(store, ScriptedClassifier(default=ANSWER), ticket_id)
    assert (outcome.ticket_id, outcome.stage) == (ticket_id, Stage.classify)
    assert store.audit_trail(ticket_id)[-1].attempt == 1
    again = classify_ticket(store, ScriptedClassifier(default=ANSWER), ticket_id)
    assert (again.ticket_id, again.stage) == (ticket_id, Stage.classify)


def test_a_ticket_classified_meanwhile_is_skipped(
    store: AnyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticket_id = submit(store)
    monkeypatch.setattr(store, "mark_classified", lambda classified, attempt: False)
    outcome = classify_ticket(store, ScriptedClassifier(default=ANSWER), ticket_id)
    assert (outcome.ticket_id, outcome.stage, outcome.did_work) == (
        ticket_id,
        Stage.classify,
        False,
    )
    assert outcome.result == "skipped (ticket is already classified)"
