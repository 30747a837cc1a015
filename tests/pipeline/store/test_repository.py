"""Every TicketRepository (memory, SQLite, PostgreSQL) keeps the same guards and audit trail."""

from __future__ import annotations

import pytest

from pipeline.domain.changes import (
    CategoryCorrection,
    ClassifiedTicket,
    DeliveryAttempt,
    DeliveryStatus,
    FailedAttempt,
    IdempotencyConflict,
)
from pipeline.domain.errors import TicketNotFound
from pipeline.domain.lifecycle import Stage, TicketStatus
from pipeline.domain.models import TicketSubmission
from pipeline.ports import TicketRepository
from tests.conftest import decision, submit
from tests.support.tickets import AnyStore, force_status


def trail(store: AnyStore, ticket_id: str) -> list[str]:
    return [e.event for e in store.audit_trail(ticket_id)]


def test_both_implementations_are_ticket_repositories(every_store: AnyStore) -> None:
    repository: TicketRepository = every_store
    repository.ping()


def test_accept_is_idempotent_per_source_and_key(every_store: AnyStore) -> None:
    body = TicketSubmission(subject="s", description="d", customer_id="c")
    first = every_store.accept(body, source="api", idempotency_key="k", payload_hash="h")
    again = every_store.accept(body, source="api", idempotency_key="k", payload_hash="h")
    assert (first.created, again.created, again.ticket.id) == (True, False, first.ticket.id)
    with pytest.raises(IdempotencyConflict):
        every_store.accept(body, source="api", idempotency_key="k", payload_hash="other")
    assert every_store.count_by_status() == {"received": 1}
    assert trail(every_store, first.ticket.id) == ["received"]


@pytest.mark.parametrize(
    ("review_reason", "final"),
    [(None, "done"), ("", "done"), ("low confidence", "needs_review")],
)
def test_close_follows_the_lifecycle_rule(
    every_store: AnyStore, review_reason: str | None, final: str
) -> None:
    ticket_id = submit(every_store)
    force_status(every_store, ticket_id, TicketStatus.routed, review_reason=review_reason)
    closed = every_store.close(ticket_id, attempt=2)
    assert (closed.closed, closed.status) == (True, final)
    ticket = every_store.get(ticket_id)
    assert ticket.status == final and ticket.finished_at is not None
    event = every_store.audit_trail(ticket_id)[-1]
    assert (event.event, event.attempt, event.detail["status"]) == ("closed", 2, final)
    assert set(event.detail["stage_ms"]) == {"audit", "total"}
    again = every_store.close(ticket_id, attempt=3)
    assert (again.closed, again.status) == (False, final)
    assert trail(every_store, ticket_id) == ["received", "closed"]
    with pytest.raises(TicketNotFound):
        every_store.close("nope", attempt=1)


def test_attempts_are_counted_and_waits_are_not(every_store: AnyStore) -> None:
    ticket_id = submit(every_store)
    failure = FailedAttempt(Stage.classify, "LLMUnavailable: 503", 2.0, attempt=1)
    assert every_store.record_attempt(ticket_id, failure)
    first = every_store.get(ticket_id)
    wait = FailedAttempt(Stage.classify, "wait", 30.0, 2, counts_as_attempt=False, defer=True)
    assert every_store.record_attempt(ticket_id, wait)
    ticket = every_store.get(ticket_id)
    assert (ticket.attempts, ticket.last_error) == (1, "wait")
    assert ticket.retrying_since == first.retrying_since is not None
    assert ticket.next_attempt_at is not None and ticket.status == "received"
    assert trail(every_store, ticket_id) == ["received", "attempt_failed", "waiting"]
    assert every_store.audit_trail(ticket_id)[-1].detail == {
        "error": "wait",
        "retry_in_s": 30.0,
        "deferred": True,
    }
    assert not every_store.record_attempt(ticket_id, FailedAttempt(Stage.route, "x", 1, 1))
    assert not every_store.fail(ticket_id, Stage.route, error="x", permanent=True, attempt=1)
    assert every_store.fail(ticket_id, Stage.classify, error="x", permanent=True, attempt=1)
    failed = every_store.get(ticket_id)
    assert (failed.status, failed.failed_stage, failed.retrying_since) == (
        "failed",
        "classify",
        None,
    )


def test_grouped_classification_moves_only_received_tickets(every_store: AnyStore) -> None:
    waiting, done, other = (submit(every_store, subject=s) for s in "abc")
    force_status(every_store, done, TicketStatus.classified)
    assert [t.id for t in every_store.received_among([waiting, done, "nope"])] == [waiting]
    answers = [
        ClassifiedTicket(ticket_id, decision("sales"), {"grouped": True})
        for ticket_id in (other, done, waiting)
    ]
    assert every_store.mark_classified_many(answers, attempt=1) == [other, waiting]
    assert every_store.get(waiting).category == "sales"
    assert every_store.get(done).category is None
    assert every_store.audit_trail(other)[-1].detail == {"grouped": True}


def test_deliveries_are_counted_per_generation(every_store: AnyStore) -> None:
    ticket_id = submit(every_store)
    pending = DeliveryAttempt(ticket_id, "finance", 1, "http://f", DeliveryStatus.pending)
    every_store.record_delivery_attempt(pending)
    every_store.record_delivery_attempt(pending)
    _, deliveries = every_store.get_with_deliveries(ticket_id)
    finance = deliveries["finance", "http"]
    assert (finance.attempts, finance.status) == (2, "pending")
    force_status(every_store, ticket_id, TicketStatus.classified, generation=2)
    assert every_store.get_with_deliveries(ticket_id)[1] == {}
    assert len(every_store.deliveries(ticket_id)) == 1


def test_a_rerouting_correction_opens_a_new_generation(every_store: AnyStore) -> None:
    ticket_id = submit(every_store)
    force_status(every_store, ticket_id, TicketStatus.needs_review, category="billing")
    correction = CategoryCorrection(
        ticket_id, TicketStatus.needs_review, "billing", "sales", "sales", True, 2, "key:admin"
    )
    assert every_store.correct(correction)
    ticket = every_store.get(ticket_id)
    assert (ticket.status, ticket.generation, ticket.classifier) == ("classified", 2, "person")
    assert not every_store.correct(correction)  # no longer needs_review: the guard holds
    assert trail(every_store, ticket_id) == ["received", "corrected"]
