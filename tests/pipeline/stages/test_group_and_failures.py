"""The grouped classify stage and the failure records, on either repository."""

from __future__ import annotations

from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.errors import CircuitOpen, DepartmentUnavailable, LLMRejected
from pipeline.domain.lifecycle import Stage, TicketStatus
from pipeline.stages.classify_group import classify_group_of_tickets
from pipeline.stages.failures import fail_ticket, record_failed_attempt
from tests.conftest import submit
from tests.support.tickets import AnyStore, force_status


def test_group_classifies_the_received_and_counts_the_rest(
    store: AnyStore, classifier: ScriptedClassifier
) -> None:
    fresh, done = submit(store, subject="Refund"), submit(store, subject="Shipping")
    force_status(store, done, TicketStatus.classified)

    outcome = classify_group_of_tickets(store, classifier, [fresh, done])

    assert (outcome.classified, outcome.alone, outcome.skipped) == ([fresh], [], 1)
    assert store.get(fresh).category == "refund"
    [event] = [e for e in store.audit_trail(fresh) if e.event == "classified"]
    assert event.detail["grouped"] is True
    again = classify_group_of_tickets(store, classifier, [fresh, done])
    assert (again.classified, again.skipped) == ([], 2)


def test_failed_attempts_count_but_waits_do_not(store: AnyStore) -> None:
    ticket_id = submit(store)
    force_status(store, ticket_id, TicketStatus.classified)
    error = DepartmentUnavailable("503")
    record_failed_attempt(store, ticket_id, Stage.route, error, attempt=1, retry_in_s=1.04)
    circuit = CircuitOpen("open")
    record_failed_attempt(
        store, ticket_id, Stage.route, circuit, attempt=2, retry_in_s=60, defer_in_store=True
    )
    ticket = store.get(ticket_id)
    assert ticket.attempts == 1 and ticket.next_attempt_at is not None
    trail = store.audit_trail(ticket_id)
    assert [(e.event, e.detail["retry_in_s"]) for e in trail[1:]] == [
        ("attempt_failed", 1.0),
        ("waiting", 60),
    ]
    # An attempt of a stage the ticket is not at leaves no trace.
    record_failed_attempt(store, ticket_id, Stage.classify, error, attempt=1, retry_in_s=1)
    assert len(store.audit_trail(ticket_id)) == 3


def test_fail_records_where_and_why_once(store: AnyStore) -> None:
    ticket_id = submit(store)
    assert fail_ticket(store, ticket_id, Stage.classify, LLMRejected("400"), attempt=3)
    assert not fail_ticket(store, ticket_id, Stage.classify, LLMRejected("400"), attempt=3)
    ticket = store.get(ticket_id)
    assert (ticket.status, ticket.failed_stage, ticket.last_error) == (
        "failed",
        "classify",
        "LLMRejected: 400",
    )
    event = store.audit_trail(ticket_id)[-1]
    assert (event.event, event.detail, event.attempt) == (
        "failed",
        {"error": "LLMRejected: 400", "permanent": True},
        3,
    )
