"""The route stage's contract: what a department receives, what the trail and store keep.

A department's integration parses the delivery body, so every field of it is asserted; the
circuit breaker counts only a department's outages (not its 4xx refusals); a failed delivery
is recorded with its error, and a later success clears the ticket's last error.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pipeline.adapters.circuit import InMemoryCircuitBreaker
from pipeline.adapters.http_delivery import InMemoryDepartmentClient
from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.errors import CircuitOpen, DeliveryRejected, DepartmentUnavailable
from pipeline.domain.lifecycle import Stage, TicketStatus
from pipeline.domain.models import TicketSubmission, payload_fingerprint
from pipeline.domain.routing import load_routing
from pipeline.stages.classify import classify_ticket
from pipeline.stages.failures import record_failed_attempt
from pipeline.stages.route import delivery_idempotency_key, route_ticket
from pipeline.store.memory import InMemoryTicketRepository
from pipeline.store.tickets import TicketStore
from tests.conftest import EXAMPLE_ROUTING, decision
from tests.support.tickets import force_status

ROUTING = load_routing(EXAMPLE_ROUTING)
AnyStore = TicketStore | InMemoryTicketRepository
BODY_FIELDS = {
    "id",
    "generation",
    "source",
    "external_id",
    "subject",
    "description",
    "customer_id",
    "priority",
    "created_at",
    "received_at",
    "metadata",
    "classification",
    "department",
    "needs_review",
    "routing_reason",
}


def accepted(store: AnyStore, **fields: object) -> str:
    """A ticket as a producer sent it, with its own fields and some of the helpdesk's."""
    body: dict[str, object] = {
        "subject": "Refund for order 7",
        "description": "Please refund order 7",
        "customer_id": "cus_77",
        "priority": "high",
        "created_at": "2026-03-04T05:06:07+00:00",
        "external_id": "zd-1234",
        "helpdesk_channel": "email",
    }
    body.update(fields)
    submission = TicketSubmission.model_validate(body)
    return store.accept(
        submission, source="shop", idempotency_key=None, payload_hash=payload_fingerprint(body)
    ).ticket.id


def classified(store: AnyStore, ticket_id: str, confidence: float = 0.9) -> None:
    classify_ticket(store, ScriptedClassifier(default=decision("refund", confidence)), ticket_id)


def route(store: AnyStore, departments: InMemoryDepartmentClient, ticket_id: str, **kw):  # type: ignore[no-untyped-def]
    return route_ticket(store, ROUTING, departments, ticket_id, confidence_threshold=0.55, **kw)


def test_the_delivery_body_carries_the_ticket_and_why_it_came(
    store: AnyStore, departments: InMemoryDepartmentClient
) -> None:
    ticket_id = accepted(store)
    classified(store, ticket_id)
    route(store, departments, ticket_id)

    [sent] = departments.received
    body = json.loads(sent.body)
    assert set(body) == BODY_FIELDS
    ticket = store.get(ticket_id)
    assert body["id"] == ticket_id
    assert body["generation"] == 1
    assert body["source"] == "shop"
    assert body["external_id"] == "zd-1234"
    assert body["subject"] == "Refund for order 7"
    assert body["description"] == "Please refund order 7"
    assert body["customer_id"] == "cus_77"
    assert body["priority"] == "high"
    assert datetime.fromisoformat(body["created_at"]) == datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert datetime.fromisoformat(body["received_at"]) == ticket.received_at
    assert body["metadata"] == {"helpdesk_channel": "email"}
    assert body["classification"]["category"] == "refund"
    assert body["classification"]["confidence"] == 0.9
    assert body["department"] == "finance"
    assert body["needs_review"] is False
    assert body["routing_reason"] == "category 'refund' routes to 'finance'"
    assert sent.headers["Idempotency-Key"] == f"{ticket_id}:1" == delivery_idempotency_key(ticket)


def test_a_ticket_without_a_producer_date_is_delivered_with_null(
    store: AnyStore, departments: InMemoryDepartmentClient
) -> None:
    ticket_id = accepted(store, created_at=None)
    classified(store, ticket_id)
    route(store, departments, ticket_id)
    assert json.loads(departments.received[0].body)["created_at"] is None


def test_the_body_is_compact_utf8_json(
    store: AnyStore, departments: InMemoryDepartmentClient
) -> None:
    ticket_id = accepted(store, subject="Rückerstattung für Bestellung 7")
    classified(store, ticket_id)
    route(store, departments, ticket_id)
    raw = departments.received[0].body
    assert "Rückerstattung".encode() in raw  # not \u-escaped
    assert b'": ' not in raw and b'", "' not in raw  # no spaces after separators


def test_an_unsure_ticket_tells_the_review_department_why(
    store: AnyStore, departments: InMemoryDepartmentClient
) -> None:
    ticket_id = accepted(store)
    classified(store, ticket_id, confidence=0.2)
    route(store, departments, ticket_id)
    body = json.loads(departments.received[0].body)
    assert (body["department"], body["needs_review"]) == ("review", True)
    assert body["routing_reason"] == "confidence 0.20 below threshold 0.55"
    ticket = store.get(ticket_id)
    assert ticket.review_reason == "confidence 0.20 below threshold 0.55"


def test_the_route_event_says_where_and_why(
    store: AnyStore, departments: InMemoryDepartmentClient
) -> None:
    ticket_id = accepted(store)
    classified(store, ticket_id)
    outcome = route(store, departments, ticket_id, attempt=3)
    assert (outcome.result, outcome.did_work, outcome.stage) == (
        "routed to finance",
        True,
        Stage.route,
    )
    event = store.audit_trail(ticket_id)[-1]
    assert (event.stage, event.event, event.attempt) == ("route", "delivered", 3)
    assert event.detail == {
        "department": "finance",
        "destination": "http://127.0.0.1:9100/departments/finance",
        "needs_review": False,
        "reason": "category 'refund' routes to 'finance'",
        "generation": 1,
        "response_status": 200,
        "latency_ms": 0.0,
        "written_back": [],
    }
    [delivery] = store.deliveries(ticket_id)
    assert (delivery.department, delivery.status, delivery.response_status) == (
        "finance",
        "delivered",
        200,
    )


def test_only_a_classified_ticket_is_routed(
    store: AnyStore, departments: InMemoryDepartmentClient
) -> None:
    ticket_id = accepted(store)
    outcome = route(store, departments, ticket_id)  # still `received`
    assert not outcome.did_work
    assert outcome.result == "skipped (ticket is received)"
    assert departments.received == []
    assert store.get(ticket_id).status == "received"


def test_a_department_outage_opens_the_circuit_a_refusal_does_not(
    store: AnyStore,
) -> None:
    breaker = InMemoryCircuitBreaker(threshold=1, cooldown_s=600)
    refused = accepted(store, external_id="a")
    classified(store, refused)
    with pytest.raises(DeliveryRejected):
        route(store, InMemoryDepartmentClient(responses=[422]), refused, breaker=breaker)
    breaker.check("finance")  # a 4xx is the ticket's fault, not the department's

    down = accepted(store, external_id="b")
    classified(store, down)
    with pytest.raises(DepartmentUnavailable):
        route(store, InMemoryDepartmentClient(responses=[503]), down, breaker=breaker)
    with pytest.raises(CircuitOpen):
        breaker.check("finance")


def test_an_open_circuit_sends_nothing_and_a_success_closes_it(store: AnyStore) -> None:
    breaker = InMemoryCircuitBreaker(threshold=2, cooldown_s=600)
    departments = InMemoryDepartmentClient()
    ticket_id = accepted(store)
    classified(store, ticket_id)
    breaker.record_failure("finance")
    breaker.record_failure("finance")
    with pytest.raises(CircuitOpen):
        route(store, departments, ticket_id, breaker=breaker)
    assert departments.received == []

    breaker = InMemoryCircuitBreaker(threshold=2, cooldown_s=600)
    breaker.record_failure("finance")
    route(store, departments, ticket_id, breaker=breaker)
    breaker.record_failure("finance")  # the success reset the count: one failure, still closed
    breaker.check("finance")


def test_failed_deliveries_are_recorded_with_their_error(store: AnyStore) -> None:
    ticket_id = accepted(store)
    classified(store, ticket_id)
    with pytest.raises(DepartmentUnavailable):
        route(store, InMemoryDepartmentClient(responses=[503]), ticket_id)
    [pending] = store.deliveries(ticket_id)
    assert (pending.status, pending.department, pending.generation) == ("pending", "finance", 1)
    assert pending.endpoint == "http://127.0.0.1:9100/departments/finance"
    assert pending.last_error is not None and "503" in pending.last_error

    other = accepted(store, external_id="zd-2")
    classified(store, other)
    with pytest.raises(DeliveryRejected):
        route(store, InMemoryDepartmentClient(responses=[410]), other)
    [rejected] = store.deliveries(other)
    assert rejected.status == "rejected"
    assert rejected.last_error is not None and "410" in rejected.last_error


def test_a_successful_retry_clears_the_last_error(store: AnyStore) -> None:
    departments = InMemoryDepartmentClient(responses=[503])
    ticket_id = accepted(store)
    classified(store, ticket_id)
    with pytest.raises(DepartmentUnavailable) as error:
        route(store, departments, ticket_id)
    record_failed_attempt(store, ticket_id, Stage.route, error.value, attempt=1, retry_in_s=1)
    assert store.get(ticket_id).last_error is not None

    route(store, departments, ticket_id, attempt=2)
    ticket = store.get(ticket_id)
    assert (ticket.status, ticket.last_error) == ("routed", None)


def test_a_second_generation_is_delivered_again(
    store: AnyStore, departments: InMemoryDepartmentClient
) -> None:
    ticket_id = accepted(store)
    classified(store, ticket_id)
    route(store, departments, ticket_id)
    force_status(store, ticket_id, TicketStatus.classified, generation=2)
    route(store, departments, ticket_id)
    assert [json.loads(d.body)["generation"] for d in departments.received] == [1, 2]
    assert departments.received[1].headers["Idempotency-Key"] == f"{ticket_id}:2"


def test_the_outcome_names_its_ticket(
    store: AnyStore, departments: InMemoryDepartmentClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticket_id = accepted(store)
    classified(store, ticket_id)
    skipped_early = route(store, departments, accepted(store, external_id="x"))
    assert skipped_early.stage is Stage.route
    monkeypatch.setattr(store, "mark_routed", lambda routed, attempt: False)
    raced = route(store, departments, ticket_id)
    assert (raced.ticket_id, raced.stage, raced.did_work) == (ticket_id, Stage.route, False)
    assert raced.result == "skipped (ticket is already routed)"
    monkeypatch.undo()
    done = route(store, departments, ticket_id)
    assert (done.ticket_id, done.stage) == (ticket_id, Stage.route)
