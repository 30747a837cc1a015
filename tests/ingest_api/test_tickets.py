"""POST /tickets and friends: what is stored, what is published, what the producer reads."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from celery import Celery
from flask.testing import FlaskClient
from kombu.exceptions import OperationalError as KombuOperationalError

from pipeline.domain.lifecycle import TicketStatus
from pipeline.store.tickets import TicketStore
from tests.support.broker import drain_queue
from tests.support.tickets import force, force_status

TICKET = {"subject": "Charged twice", "description": "Card charged twice", "customer_id": "c1"}


def test_accepts_stores_and_publishes_an_id_only_chain(
    client: FlaskClient, store: TicketStore, celery_app: Celery
) -> None:
    response = client.post("/tickets", json={**TICKET, "zendesk": {"id": 5}})

    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "received"
    assert response.headers["Location"] == body["links"]["self"] == f"/tickets/{body['id']}"
    stored = store.get(body["id"])
    assert stored.status == "received" and stored.extra == {"zendesk": {"id": 5}}
    [message] = drain_queue(celery_app, "live")
    assert (message.task, message.args) == ("triage.classify", [body["id"]])
    # The rest of the chain rides along, and carries nothing but the id either.
    assert [(s["task"], s["args"]) for s in reversed(message.chain)] == [
        ("triage.route", [body["id"]]),
        ("triage.audit", [body["id"]]),
    ]
    assert "Card charged twice" not in json.dumps(message.chain)


def test_publishes_only_after_the_row_is_committed(
    client: FlaskClient, store: TicketStore, celery_app: Celery
) -> None:
    seen_status: list[str] = []

    def check_committed(*args: object, **kwargs: object) -> None:
        # A fresh read from another connection sees the row: it was committed before publish.
        seen_status.extend(t.status for t in store.list_tickets())

    with mock.patch.object(celery_app, "send_task", check_committed):
        assert client.post("/tickets", json=TICKET).status_code == 202
    assert seen_status == ["received"]


def test_broker_down_still_accepts_and_leaves_ticket_for_the_sweeper(
    client: FlaskClient, store: TicketStore, celery_app: Celery
) -> None:
    with mock.patch.object(
        celery_app, "send_task", side_effect=KombuOperationalError("connection refused")
    ):
        response = client.post("/tickets", json=TICKET)
    assert response.status_code == 202
    assert store.get(response.get_json()["id"]).status == "received"


def test_repeat_with_same_key_answers_200_and_publishes_nothing(
    client: FlaskClient, celery_app: Celery, store: TicketStore
) -> None:
    first = client.post("/tickets", json=TICKET, headers={"Idempotency-Key": "abc"})
    again = client.post("/tickets", json=TICKET, headers={"Idempotency-Key": "abc"})
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.get_json()["id"] == first.get_json()["id"]
    assert len(drain_queue(celery_app, "live")) == 1
    assert store.count_by_status() == {"received": 1}


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"webhook-id": "msg_1"}, TICKET),
        ({}, {**TICKET, "external_id": "ZD-1"}),
    ],
)
def test_webhook_id_or_external_id_are_idempotency_keys(
    client: FlaskClient, headers: dict[str, str], body: dict[str, str]
) -> None:
    first = client.post("/tickets", json=body, headers=headers)
    again = client.post("/tickets", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.get_json()["id"] == again.get_json()["id"]


def test_same_key_with_another_body_is_409(client: FlaskClient) -> None:
    first = client.post("/tickets", json=TICKET, headers={"Idempotency-Key": "k"})
    clash = client.post(
        "/tickets", json={**TICKET, "description": "other"}, headers={"Idempotency-Key": "k"}
    )
    assert clash.status_code == 409
    error = clash.get_json()["error"]
    assert error["code"] == "idempotency_conflict"
    assert error["details"]["ticket_id"] == first.get_json()["id"]


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"data": "{not json", "content_type": "application/json"}, 400, "invalid_json"),
        ({"data": b"\xff\xfe", "content_type": "application/json"}, 400, "invalid_json"),
        (
            {"data": "subject=x", "content_type": "application/x-www-form-urlencoded"},
            415,
            "unsupported_media_type",
        ),
        ({"data": json.dumps(TICKET)}, 415, "unsupported_media_type"),
        ({"json": [TICKET]}, 422, "validation_failed"),
        ({"json": {**TICKET, "priority": "yesterday"}}, 422, "validation_failed"),
        ({"json": {**TICKET, "description": "x" * 2_000_000}}, 413, "body_too_large"),
        ({"json": {**TICKET, "blob": "x" * 20_000}}, 422, "metadata_too_large"),
    ],
)
def test_bad_input_gets_a_structured_error_and_stores_nothing(
    client: FlaskClient, store: TicketStore, kwargs: dict[str, object], status: int, code: str
) -> None:
    response = client.post("/tickets", **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status
    assert response.is_json
    assert response.get_json()["error"]["code"] == code
    assert store.count_by_status() == {}


def test_validation_error_names_each_field(client: FlaskClient) -> None:
    response = client.post("/tickets", json={"subject": "", "customer_id": "c"})
    fields = {d["field"]: d["type"] for d in response.get_json()["error"]["details"]}
    assert fields == {"subject": "string_too_short", "description": "missing"}


def test_store_down_answers_503_with_retry_after(client: FlaskClient, store: TicketStore) -> None:
    from sqlalchemy.exc import OperationalError

    with mock.patch.object(
        store, "transaction", side_effect=OperationalError("BEGIN", {}, Exception("db gone"))
    ):
        response = client.post("/tickets", json=TICKET)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.get_json()["error"]["code"] == "store_unavailable"


def test_unknown_ticket_and_route_are_json_404(client: FlaskClient) -> None:
    for path in ("/tickets/nope", "/tickets/nope/logs", "/no/such/route"):
        response = client.get(path)
        assert response.status_code == 404 and response.is_json, path


def test_get_ticket_and_logs(client: FlaskClient) -> None:
    ticket_id = client.post("/tickets", json=TICKET).get_json()["id"]
    ticket = client.get(f"/tickets/{ticket_id}").get_json()
    assert ticket["status"] == "received" and ticket["classification"] is None
    assert ticket["received_at"].endswith("Z")
    logs = client.get(f"/tickets/{ticket_id}/logs").get_json()
    assert [e["event"] for e in logs["events"]] == ["received"]


def test_rerun_of_a_ticket_in_flight_is_409(client: FlaskClient) -> None:
    ticket_id = client.post("/tickets", json=TICKET).get_json()["id"]
    response = client.post(f"/tickets/{ticket_id}/classify")
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "ticket_in_progress"


def test_list_filters_by_status(client: FlaskClient) -> None:
    client.post("/tickets", json=TICKET)
    assert len(client.get("/tickets?status=received").get_json()["tickets"]) == 1
    assert client.get("/tickets?status=failed").get_json()["tickets"] == []
    assert client.get("/tickets?status=bogus").status_code == 422


def test_replay_resumes_a_failed_ticket_at_its_failed_stage(
    client: FlaskClient, store: TicketStore, celery_app: Celery
) -> None:
    from pipeline.domain.errors import DeliveryRejected
    from pipeline.domain.lifecycle import Stage, TicketStatus
    from pipeline.stages.failures import fail_ticket

    ticket_id = client.post("/tickets", json=TICKET).get_json()["id"]
    drain_queue(celery_app, "live")
    force_status(store, ticket_id, TicketStatus.classified)
    fail_ticket(store, ticket_id, Stage.route, DeliveryRejected("410"), attempt=1)

    response = client.post(f"/tickets/{ticket_id}/replay")

    assert response.status_code == 202
    assert response.get_json()["stage"] == "route"
    [message] = drain_queue(celery_app, "live")
    assert (message.task, message.args) == ("triage.route", [ticket_id])
    assert store.get(ticket_id).generation == 2
    assert client.get("/tickets?status=failed").get_json()["tickets"] == []


def finish_as(store: TicketStore, ticket_id: str, **values: object) -> None:
    force(store, ticket_id, **values)


def test_correction_reroutes_when_the_department_changes(
    client: FlaskClient, store: TicketStore, celery_app: Celery
) -> None:
    ticket_id = client.post("/tickets", json=TICKET).get_json()["id"]
    drain_queue(celery_app, "live")
    finish_as(
        store,
        ticket_id,
        status="needs_review",
        category="billing",
        confidence=0.3,
        department="review",
        review_reason="confidence 0.30 below threshold 0.55",
    )

    response = client.post(f"/tickets/{ticket_id}/category", json={"category": "refund"})

    assert response.status_code == 200
    assert response.get_json() == {
        "id": ticket_id,
        "previous_category": "billing",
        "category": "refund",
        "department": "finance",
        "rerouted": True,
    }
    ticket = store.get(ticket_id)
    assert (ticket.status, ticket.known_category, ticket.classifier, ticket.generation) == (
        "classified",
        "refund",
        "person",
        2,
    )
    [message] = drain_queue(celery_app, "live")
    assert (message.task, message.args) == ("triage.route", [ticket_id])
    corrected = store.audit_trail(ticket_id)[-1]
    assert (corrected.event, corrected.detail["from"], corrected.detail["to"]) == (
        "corrected",
        "billing",
        "refund",
    )


def test_confirmation_without_department_change_is_a_label_only(
    client: FlaskClient, store: TicketStore, celery_app: Celery
) -> None:
    ticket_id = client.post("/tickets", json=TICKET).get_json()["id"]
    drain_queue(celery_app, "live")
    finish_as(
        store, ticket_id, status="done", category="refund", confidence=0.9, department="finance"
    )
    response = client.post(f"/tickets/{ticket_id}/category", json={"category": "billing"})
    assert response.get_json()["rerouted"] is False  # billing also goes to finance
    assert store.get(ticket_id).status == "done"
    assert store.get(ticket_id).known_category == "billing"
    assert drain_queue(celery_app, "live") == []


def test_correction_to_an_unknown_category_is_422(client: FlaskClient, store: TicketStore) -> None:
    ticket_id = client.post("/tickets", json=TICKET).get_json()["id"]
    finish_as(store, ticket_id, status="done", category="refund", department="finance")
    response = client.post(f"/tickets/{ticket_id}/category", json={"category": "warranty"})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "unknown_category"


def test_get_ticket_shows_sentiment_and_per_field_confidence(
    client: FlaskClient, store: TicketStore
) -> None:
    ticket_id = client.post("/tickets", json=TICKET).get_json()["id"]
    force_status(
        store,
        ticket_id,
        TicketStatus.done,
        category="billing",
        confidence=0.91,
        urgency="high",
        urgency_confidence=0.7,
        sentiment="very_negative",
        sentiment_confidence=0.8,
        language="en",
        classifier="local",
        model="local-1",
    )
    classification = client.get(f"/tickets/{ticket_id}").get_json()["classification"]
    assert classification["sentiment"] == "very_negative"
    assert (classification["confidence"], classification["urgency_confidence"]) == (0.91, 0.7)
    assert classification["sentiment_confidence"] == 0.8


def test_a_created_at_past_year_9999_in_utc_is_422_not_500(client: FlaskClient) -> None:
    response = client.post("/tickets", json={**TICKET, "created_at": "9999-12-31T23:59:59-23:59"})
    assert response.status_code == 422 and response.is_json
    assert "created_at" in json.dumps(response.get_json()["error"])
