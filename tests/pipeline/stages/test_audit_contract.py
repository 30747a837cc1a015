"""The audit stage's contract: the closing event a person reads at the end of the trail."""

from __future__ import annotations

import pytest

from pipeline.adapters.http_delivery import InMemoryDepartmentClient
from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.errors import TicketNotFound
from pipeline.domain.lifecycle import Stage
from pipeline.domain.routing import load_routing
from pipeline.stages.audit import close_ticket
from pipeline.stages.classify import classify_ticket
from pipeline.stages.route import route_ticket
from pipeline.store.memory import InMemoryTicketRepository
from pipeline.store.tickets import TicketStore
from tests.conftest import EXAMPLE_ROUTING, decision, submit
from tests.support.tickets import force

ROUTING = load_routing(EXAMPLE_ROUTING)
AnyStore = TicketStore | InMemoryTicketRepository


def routed(store: AnyStore, confidence: float = 0.9) -> str:
    ticket_id = submit(store, subject="Refund please")
    classify_ticket(store, ScriptedClassifier(default=decision("refund", confidence)), ticket_id)
    route_ticket(store, ROUTING, InMemoryDepartmentClient(), ticket_id, confidence_threshold=0.55)
    return ticket_id


def ms(later, earlier) -> float:  # type: ignore[no-untyped-def]
    return round((later - earlier).total_seconds() * 1000, 2)


def test_the_closing_event_gives_the_final_state_and_each_stage_time(store: AnyStore) -> None:
    ticket_id = routed(store)
    force(store, ticket_id, attempts=2)
    outcome = close_ticket(store, ticket_id, attempt=4)
    assert outcome.ticket_id == ticket_id
    assert (outcome.stage, outcome.result, outcome.did_work) == (
        Stage.audit,
        "closed as done",
        True,
    )

    ticket = store.get(ticket_id)
    trail = store.audit_trail(ticket_id)
    by_event = {e.event: e for e in trail}
    closed = trail[-1]
    assert (closed.stage, closed.event, closed.attempt) == ("audit", "closed", 4)
    detail = closed.detail
    assert detail["status"] == "done"
    assert detail["department"] == "finance"
    assert detail["review_reason"] is None
    assert detail["attempts"] == 2
    stage_ms = detail["stage_ms"]
    received_at = ticket.received_at
    classified_at = by_event["classified"].created_at
    delivered_at = by_event["delivered"].created_at
    assert stage_ms["classify"] == ms(classified_at, received_at)
    assert stage_ms["route"] == ms(delivered_at, classified_at)
    assert stage_ms["audit"] == ms(closed.created_at, delivered_at)
    assert stage_ms["total"] == ms(closed.created_at, received_at)
    assert ticket.finished_at is not None and ticket.status == "done"


def test_a_review_ticket_closes_as_needs_review_with_its_reason(store: AnyStore) -> None:
    ticket_id = routed(store, confidence=0.2)
    outcome = close_ticket(store, ticket_id)
    assert store.audit_trail(ticket_id)[-1].attempt == 1  # the default: a first attempt
    assert outcome.result == "closed as needs_review"
    detail = store.audit_trail(ticket_id)[-1].detail
    assert (detail["status"], detail["department"]) == ("needs_review", "review")
    assert detail["review_reason"] == "confidence 0.20 below threshold 0.55"
    assert store.get(ticket_id).status == "needs_review"


def test_a_redelivered_audit_closes_nothing(store: AnyStore) -> None:
    ticket_id = routed(store)
    close_ticket(store, ticket_id)
    again = close_ticket(store, ticket_id)
    assert (again.did_work, again.result) == (False, "skipped (ticket is done)")
    assert (again.ticket_id, again.stage) == (ticket_id, Stage.audit)
    assert [e.event for e in store.audit_trail(ticket_id)].count("closed") == 1


def test_a_ticket_not_yet_routed_is_not_closed(store: AnyStore) -> None:
    ticket_id = submit(store)
    outcome = close_ticket(store, ticket_id)
    assert (outcome.did_work, outcome.result) == (False, "skipped (ticket is received)")
    assert store.get(ticket_id).status == "received"


def test_an_unknown_ticket_is_reported(store: AnyStore) -> None:
    with pytest.raises(TicketNotFound):
        close_ticket(store, "00000000-0000-0000-0000-000000000000")
