"""The stages as plain functions: guards, decisions, persistence with audit, idempotency."""

from __future__ import annotations

import json

import pytest

from pipeline.adapters.http_delivery import InMemoryDepartmentClient
from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.errors import DeliveryRejected, DepartmentUnavailable
from pipeline.domain.lifecycle import Stage, TicketStatus
from pipeline.domain.routing import load_routing
from pipeline.operations.replay import TicketBusy, reopen_ticket
from pipeline.stages.audit import close_ticket
from pipeline.stages.classify import classify_ticket
from pipeline.stages.failures import fail_ticket
from pipeline.stages.route import route_ticket
from pipeline.store.memory import InMemoryTicketRepository
from pipeline.store.tickets import TicketStore
from tests.conftest import EXAMPLE_ROUTING, decision, submit
from tests.support.tickets import force, force_status

ROUTING = load_routing(EXAMPLE_ROUTING)
# The `store` fixture (tests/pipeline/stages/conftest.py) is each implementation in turn.
AnyStore = TicketStore | InMemoryTicketRepository


def route(store: AnyStore, departments: InMemoryDepartmentClient, ticket_id: str):  # type: ignore[no-untyped-def]
    return route_ticket(store, ROUTING, departments, ticket_id, confidence_threshold=0.55)


def run_all(
    store: AnyStore,
    classifier: ScriptedClassifier,
    departments: InMemoryDepartmentClient,
    ticket_id: str,
) -> None:
    classify_ticket(store, classifier, ticket_id)
    route(store, departments, ticket_id)
    close_ticket(store, ticket_id)


def test_full_path_ends_done_with_complete_trail(
    store: AnyStore, classifier: ScriptedClassifier, departments: InMemoryDepartmentClient
) -> None:
    ticket_id = submit(store, subject="Refund please")
    run_all(store, classifier, departments, ticket_id)

    ticket = store.get(ticket_id)
    assert (ticket.status, ticket.category, ticket.department) == ("done", "refund", "finance")
    events = [(e.stage, e.event) for e in store.audit_trail(ticket_id)]
    assert events == [
        ("ingest", "received"),
        ("classify", "classified"),
        ("route", "delivered"),
        ("audit", "closed"),
    ]
    closing = store.audit_trail(ticket_id)[-1].detail
    assert set(closing["stage_ms"]) == {"classify", "route", "audit", "total"}
    [sent] = departments.received
    assert sent.endpoint.endswith("/departments/finance")
    assert sent.headers["Idempotency-Key"] == f"{ticket_id}:1"
    body = json.loads(sent.body)
    assert body["classification"]["category"] == "refund" and body["generation"] == 1


def test_classifier_sees_text_but_not_the_customer(
    store: AnyStore, classifier: ScriptedClassifier
) -> None:
    ticket_id = submit(store, customer_id="cus_secret_42")
    classify_ticket(store, classifier, ticket_id)
    assert "cus_secret_42" not in classifier.seen[0].model_dump_json()


def test_each_stage_is_idempotent(
    store: AnyStore, classifier: ScriptedClassifier, departments: InMemoryDepartmentClient
) -> None:
    ticket_id = submit(store)
    run_all(store, classifier, departments, ticket_id)
    trail_before = store.audit_trail(ticket_id)

    outcomes = [
        classify_ticket(store, classifier, ticket_id),
        route(store, departments, ticket_id),
        close_ticket(store, ticket_id),
    ]

    assert [o.did_work for o in outcomes] == [False, False, False]
    assert len(classifier.seen) == 1 and len(departments.received) == 1
    assert store.audit_trail(ticket_id) == trail_before


def test_redelivered_route_after_recorded_2xx_does_not_post_again(
    store: AnyStore, classifier: ScriptedClassifier, departments: InMemoryDepartmentClient
) -> None:
    ticket_id = submit(store)
    classify_ticket(store, classifier, ticket_id)
    route(store, departments, ticket_id)
    # The worker died after the delivery committed but the ticket is somehow back before route
    # (a replay of the same generation): the recorded 2xx stops a second POST.
    force_status(store, ticket_id, TicketStatus.classified)
    route(store, departments, ticket_id)
    assert len(departments.received) == 1
    assert store.get(ticket_id).status == "routed"


def test_low_confidence_is_delivered_to_review_and_ends_needs_review(
    store: AnyStore, departments: InMemoryDepartmentClient
) -> None:
    ticket_id = submit(store)
    classify_ticket(store, ScriptedClassifier(default=decision("billing", 0.2)), ticket_id)
    route(store, departments, ticket_id)
    close_ticket(store, ticket_id)
    ticket = store.get(ticket_id)
    assert (ticket.status, ticket.department) == ("needs_review", "review")
    assert departments.received[0].endpoint.endswith("/departments/review")


def test_department_outage_is_transient_and_recorded(
    store: AnyStore, classifier: ScriptedClassifier
) -> None:
    departments = InMemoryDepartmentClient(responses=[503])
    ticket_id = submit(store)
    classify_ticket(store, classifier, ticket_id)
    with pytest.raises(DepartmentUnavailable):
        route(store, departments, ticket_id)
    [delivery] = store.deliveries(ticket_id)
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    route(store, departments, ticket_id)  # the retry
    [delivery] = store.deliveries(ticket_id)
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("delivered", 2, 200)


def test_department_4xx_is_permanent(store: AnyStore, classifier: ScriptedClassifier) -> None:
    ticket_id = submit(store)
    classify_ticket(store, classifier, ticket_id)
    with pytest.raises(DeliveryRejected):
        route(store, InMemoryDepartmentClient(responses=[422]), ticket_id)
    assert store.deliveries(ticket_id)[0].status == "rejected"


def test_failed_ticket_reopens_at_its_failed_stage_with_a_new_generation(
    store: AnyStore, classifier: ScriptedClassifier, departments: InMemoryDepartmentClient
) -> None:
    ticket_id = submit(store)
    classify_ticket(store, classifier, ticket_id)
    assert fail_ticket(store, ticket_id, Stage.route, DeliveryRejected("410"), attempt=1)
    failed = store.get(ticket_id)
    assert (failed.status, failed.failed_stage) == ("failed", "route")

    assert reopen_ticket(store, ticket_id, None, actor="test") is Stage.route
    route(store, departments, ticket_id)
    close_ticket(store, ticket_id)
    ticket = store.get(ticket_id)
    assert (ticket.status, ticket.generation) == ("done", 2)
    assert departments.received[0].headers["Idempotency-Key"] == f"{ticket_id}:2"


def test_ticket_in_flight_cannot_be_reopened(store: AnyStore) -> None:
    ticket_id = submit(store)
    with pytest.raises(TicketBusy):
        reopen_ticket(store, ticket_id, Stage.classify, actor="test")


def test_outbound_delivery_is_signed_when_a_secret_is_set(
    store: AnyStore, classifier: ScriptedClassifier, departments: InMemoryDepartmentClient
) -> None:
    import base64

    from standardwebhooks.webhooks import Webhook

    from pipeline.adapters.signatures import sign_webhook

    secret = "whsec_" + base64.b64encode(b"department-verifies-us-1234").decode()
    ticket_id = submit(store)
    classify_ticket(store, classifier, ticket_id)
    route_ticket(
        store,
        ROUTING,
        departments,
        ticket_id,
        confidence_threshold=0.55,
        sign=lambda msg_id, body: sign_webhook(secret, msg_id, body),
    )
    [sent] = departments.received
    assert sent.headers["webhook-id"] == f"{ticket_id}:1"
    Webhook(secret).verify(sent.body, sent.headers)


def test_historical_ticket_is_routed_but_not_delivered(
    store: AnyStore, classifier: ScriptedClassifier, departments: InMemoryDepartmentClient
) -> None:
    ticket_id = submit(store)
    force(store, ticket_id, deliver=False)
    classify_ticket(store, classifier, ticket_id)
    route(store, departments, ticket_id)
    close_ticket(store, ticket_id)
    ticket = store.get(ticket_id)
    assert (ticket.status, ticket.department) == ("done", "finance")
    assert departments.received == []
    assert store.deliveries(ticket_id)[0].status == "recorded"
