"""POST /webhooks/<connector>: signed helpdesk events become tickets, once; the rest is 200/4xx."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery import Celery
from flask import Flask
from flask.testing import FlaskClient
from pydantic import SecretStr

from ingest_api.app import create_app
from pipeline.adapters.http_delivery import InMemoryDepartmentClient
from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.routing import load_routing
from pipeline.settings import Settings
from pipeline.stages.audit import close_ticket
from pipeline.stages.classify import classify_ticket
from pipeline.stages.route import route_ticket
from pipeline.store.tickets import TicketStore
from tests.conftest import EXAMPLE_ROUTING
from tests.support.broker import drain_queue
from tests.support.connectors import (
    OLD_SECRET,
    SECRET,
    example,
    fixture,
    signed,
    zendesk_headers,
)

CONNECTORS = ["zendesk", "freshdesk", "jira", "github", "intercom", "email"]
EXTERNAL_IDS = {
    "zendesk": "35436",
    "freshdesk": "2001",
    "jira": "SUP-17",
    "github": "octo-org/hello-world#1347",
    "intercom": "147",
    "email": "<CAF3x8k2=kq@mail.example.com>",
}


@pytest.fixture
def hooks(settings: Settings, store: TicketStore, celery_app: Celery) -> Flask:
    secrets = {f"{name}_webhook_secret": SecretStr(f"{SECRET},{OLD_SECRET}") for name in CONNECTORS}
    configured = settings.model_copy(
        update={**secrets, "webhook_ignore_senders": "triage-bot@example.com"}
    )
    return create_app(configured, store=store, celery_app=celery_app)


@pytest.fixture
def web(hooks: Flask) -> FlaskClient:
    return hooks.test_client()


def send(
    web: FlaskClient,
    connector: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    *,
    sign: bool = True,
    content_type: str | None = None,
) -> Any:
    base_headers, base_body, base_type = example(connector)
    body = base_body if body is None else body
    sent = {**base_headers, **(headers or {})}
    if sign:
        sent = {**signed(connector, body), **sent}
    return web.post(
        f"/webhooks/{connector}",
        data=body,
        headers=sent,
        content_type=content_type or base_type,
    )


@pytest.mark.parametrize("connector", CONNECTORS)
def test_each_example_is_stored_with_its_connector_and_queued(
    connector: str, web: FlaskClient, store: TicketStore, celery_app: Celery
) -> None:
    response = send(web, connector)
    assert response.status_code == 202, response.get_json()
    ticket = store.get(response.get_json()["id"])
    assert (ticket.source, ticket.connector) == (connector, connector)
    assert ticket.external_id == EXTERNAL_IDS[connector]
    assert ticket.status == "received" and ticket.extra["helpdesk"]["connector"] == connector
    [message] = drain_queue(celery_app, "live")
    assert message.args == [ticket.id]
    trail = store.audit_trail(ticket.id)
    assert trail[0].detail["connector"] == connector


@pytest.mark.parametrize("connector", CONNECTORS)
def test_a_redelivery_is_200_with_the_same_ticket(
    connector: str, web: FlaskClient, store: TicketStore, celery_app: Celery
) -> None:
    first, again = send(web, connector), send(web, connector)
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.get_json()["id"] == again.get_json()["id"]
    assert store.count_by_status() == {"received": 1}
    assert len(drain_queue(celery_app, "live")) == 1


def test_another_delivery_of_the_same_ticket_is_the_same_ticket(
    web: FlaskClient, store: TicketStore
) -> None:
    _, body = fixture("github_issues_opened.json")
    payload = json.loads(body)
    first = send(web, "github")
    # GitHub resends with a new delivery id; the issue was edited in between.
    payload["issue"]["body"] = "Edited: crashes on Safari 17 and 18."
    edited = json.dumps(payload).encode()
    again = send(web, "github", edited, {"X-GitHub-Delivery": "another-delivery-id"})
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.get_json()["id"] == first.get_json()["id"]
    assert store.count_by_status() == {"received": 1}


@pytest.mark.parametrize(
    ("connector", "body", "headers"),
    [
        (
            "github",
            b'{"zen": "Keep it logically awesome.", "hook_id": 1}',
            {"X-GitHub-Event": "ping"},
        ),
        ("github", b'{"action": "labeled", "issue": {}}', {}),
        ("jira", b'{"webhookEvent": "jira:issue_updated", "issue": {"key": "SUP-17"}}', {}),
        ("jira", b'{"webhookEvent": "comment_created"}', {}),
        ("intercom", b'{"topic": "conversation.admin.replied", "data": {}}', {}),
        ("zendesk", b'{"type": "zen:event-type:ticket.tags_changed", "detail": {"id": "1"}}', {}),
        ("freshdesk", b'{"event": "ticket_updated", "ticket": {"id": "2001"}}', {}),
    ],
)
def test_events_that_are_not_new_tickets_are_200_ignored(
    connector: str, body: bytes, headers: dict[str, str], web: FlaskClient, store: TicketStore
) -> None:
    response = send(web, connector, body, headers)
    assert response.status_code == 200
    assert set(response.get_json()) == {"ignored"}
    assert store.count_by_status() == {}


def test_our_own_bot_account_is_ignored(web: FlaskClient, store: TicketStore) -> None:
    _, body = fixture("freshdesk_ticket_created.json")
    payload = json.loads(body)
    payload["ticket"]["requester_email"] = "triage-bot@example.com"
    response = send(web, "freshdesk", json.dumps(payload).encode())
    assert response.status_code == 200 and "ignored" in response.get_json()
    assert store.count_by_status() == {}


@pytest.mark.parametrize("connector", CONNECTORS)
def test_missing_or_wrong_signatures_are_401(
    connector: str, web: FlaskClient, store: TicketStore
) -> None:
    missing = send(web, connector, sign=False)
    _, body, _ = example(connector)
    wrong = send(web, connector, headers=signed(connector, body, "wrong-secret"), sign=False)
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] in ("missing_signature", "invalid_signature")
        assert SECRET not in response.get_data(as_text=True)
    assert store.count_by_status() == {}


def test_the_rotated_out_secret_still_verifies(web: FlaskClient) -> None:
    _, body, _ = example("github")
    response = send(web, "github", headers=signed("github", body, OLD_SECRET), sign=False)
    assert response.status_code == 202


def test_an_expired_zendesk_signature_is_401(web: FlaskClient) -> None:
    _, body, _ = example("zendesk")
    old = zendesk_headers(body, at=datetime.now(UTC) - timedelta(minutes=10))
    response = send(web, "zendesk", headers=old, sign=False)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "expired_signature"


@pytest.mark.parametrize("connector", CONNECTORS)
def test_a_connector_without_a_secret_refuses_everything(
    connector: str, api: Flask, store: TicketStore
) -> None:
    response = send(api.test_client(), connector)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "webhook_not_configured"
    assert store.count_by_status() == {}


@pytest.mark.parametrize("connector", ["zendesk", "jira", "github", "intercom", "freshdesk"])
def test_malformed_json_is_400(connector: str, web: FlaskClient) -> None:
    headers = {"X-GitHub-Event": "issues"} if connector == "github" else {}
    response = send(web, connector, b'{"ticket": ', headers)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_webhook"


@pytest.mark.parametrize(
    ("connector", "body"),
    [
        ("zendesk", b'{"ticket": {"id": "9"}}'),
        ("jira", b'{"webhookEvent": "jira:issue_created", "issue": {"fields": {}}}'),
        ("intercom", b'{"topic": "conversation.user.created"}'),
        ("email", b"From: a@example.com\r\nSubject: hi\r\n\r\nno message id"),
    ],
)
def test_unmappable_payloads_are_422(connector: str, body: bytes, web: FlaskClient) -> None:
    response = send(web, connector, body)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "unmappable_webhook"


def test_wrong_content_type_is_415_and_unknown_connector_404(web: FlaskClient) -> None:
    assert send(web, "github", content_type="text/plain").status_code == 415
    assert send(web, "email", content_type="application/json").status_code == 415
    response = web.post("/webhooks/myspace", data=b"{}", content_type="application/json")
    assert (
        response.status_code == 404
        and "zendesk" in response.get_json()["error"]["details"]["known"]
    )


def test_a_body_over_the_limit_is_413(hooks: Flask) -> None:
    limit = hooks.extensions["triage"].settings.max_ticket_bytes
    body = b'{"pad": "' + b"x" * limit + b'"}'
    response = send(hooks.test_client(), "github", body)
    assert response.status_code == 413


def test_webhook_routes_are_documented_without_api_key(web: FlaskClient) -> None:
    operation = web.get("/openapi.json").get_json()["paths"]["/webhooks/{connector}"]["post"]
    assert {"200", "202", "400", "401", "413", "415", "422"} <= set(operation["responses"])
    assert "security" not in operation


def test_a_github_webhook_ticket_reaches_a_final_status(
    web: FlaskClient,
    store: TicketStore,
    classifier: ScriptedClassifier,
    departments: InMemoryDepartmentClient,
) -> None:
    ticket_id = send(web, "github").get_json()["id"]
    classify_ticket(store, classifier, ticket_id)
    route_ticket(
        store, load_routing(EXAMPLE_ROUTING), departments, ticket_id, confidence_threshold=0.55
    )
    close_ticket(store, ticket_id)
    ticket = store.get(ticket_id)
    assert ticket.status in ("done", "needs_review")
    assert (ticket.connector, ticket.external_id) == ("github", "octo-org/hello-world#1347")
    assert classifier.seen[-1].subject == "Login page crashes on Safari"
