"""Class 3: every route that accepts tickets enforces the same source rules, in one place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from celery import Celery
from flask import Flask
from pydantic import SecretStr

import ingest_api.sources as sources
from ingest_api.app import create_app
from ingest_api.sources import install_source_rules, ticket_routes
from pipeline.adapters.signatures import sign_webhook
from pipeline.domain.operator import Role
from pipeline.operations.api_keys import create_key
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore
from tests.conftest import TEST_PEPPER
from tests.security.attack import (
    SECRET,
    SIGNING_SOURCE,
    dumps,
    mint_key,
    raw_post,
    signed,
    signing_api,
    ticket,
)
from tests.security.conftest import LiveApi
from workers.celery_app import create_celery_app

__all__ = ["signing_api"]  # the module-scoped fixture

# A body each ticket route would accept if the source rules let it through.
BODIES: dict[str, Any] = {
    "tickets.create_ticket": ticket(),
    "batch.create_batch": {"tickets": [ticket(external_id="b-1")], "deliver": True},
    "webhooks.receive_webhook": {"ticket": {"id": 1, "subject": "s", "description": "d"}},
}
PATH_ARGS = {"connector": "zendesk"}


@pytest.fixture
def app(settings: Settings, store: TicketStore) -> Flask:
    settings = settings.model_copy(
        update={
            "webhook_secrets": {SIGNING_SOURCE: [SecretStr(SECRET)]},
            "zendesk_webhook_secret": SecretStr("zendesk-secret"),
        }
    )
    celery: Celery = create_celery_app(settings)
    return create_app(settings, store=store, celery_app=celery)


def test_every_write_route_declares_whether_it_accepts_tickets(app: Flask) -> None:
    for rule in app.url_map.iter_rules():
        if rule.methods and rule.methods & {"POST", "PUT", "PATCH"}:
            if rule.endpoint.startswith("console."):
                continue
            view = app.view_functions[rule.endpoint]
            assert isinstance(getattr(view, "accepts_tickets", None), bool), rule.rule
    assert set(ticket_routes(app)) == set(BODIES)


def test_a_new_route_that_forgets_the_rules_stops_the_app(app: Flask) -> None:
    app.add_url_rule("/tickets/import", "forgot", lambda: "", methods=["POST"])
    with pytest.raises(LookupError, match="forgot"):
        install_source_rules(app)


def test_the_check_runs_on_every_ticket_route(
    app: Flask, store: TicketStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []
    real_verify, real_body = sources.verify_source_signature, sources._connector_body

    def verify(raw: bytes) -> bool:
        ran.append("signature")
        return real_verify(raw)

    def body(*args: Any, **kwargs: Any) -> bytes:
        ran.append("connector")
        return real_body(*args, **kwargs)

    monkeypatch.setattr(sources, "verify_source_signature", verify)
    monkeypatch.setattr(sources, "_connector_body", body)
    key = create_key(store, TEST_PEPPER.encode(), "must-sign", Role.producer, SIGNING_SOURCE)
    client = app.test_client()
    for rule in app.url_map.iter_rules():
        if rule.endpoint not in ticket_routes(app):
            continue
        ran.clear()
        built = rule.build({name: PATH_ARGS[name] for name in rule.arguments})
        assert built is not None
        path = built[1]
        response = client.post(path, json=BODIES[rule.endpoint], headers={"X-API-Key": key})
        assert response.status_code == 401, (rule.rule, response.get_json())
        assert ran, f"{rule.rule}: the source check did not run"
    assert store.count_by_status() == {}


def test_signed_batch_is_accepted_in_process(app: Flask, store: TicketStore) -> None:
    key = create_key(store, TEST_PEPPER.encode(), "signs", Role.producer, SIGNING_SOURCE)
    body = dumps({"tickets": [ticket(external_id="x-1")]})
    response = app.test_client().post(
        "/tickets/batch",
        data=body,
        headers={"X-API-Key": key, "Content-Type": "application/json", **signed(body, "m-1")},
    )
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["accepted"] == 1


# --- against a real `triage api` process -------------------------------------------------------


@pytest.fixture(scope="module")
def signer_key(signing_api: LiveApi) -> str:
    return mint_key(signing_api, "signer-producer", Role.producer, SIGNING_SOURCE)


def stored_count(api: LiveApi) -> int:
    page = httpx.get(
        api.base_url + "/tickets", headers={"X-API-Key": api.admin_key}, timeout=30
    ).json()
    return len(page["tickets"])


def test_unsigned_batch_with_deliver_is_refused_and_nothing_stored(
    signing_api: LiveApi, signer_key: str
) -> None:
    before = stored_count(signing_api)
    body = dumps({"tickets": [ticket(external_id="u-1"), ticket()], "deliver": True})
    response = raw_post(signing_api, "/tickets/batch", body, signer_key)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    assert stored_count(signing_api) == before


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda body: signed(b'{"tickets":[]}', "m-2"), id="signature-of-other-body"),
        pytest.param(
            lambda body: sign_webhook(
                SECRET, "m-3", body, at=datetime.now(UTC) - timedelta(minutes=30)
            ),
            id="stale-timestamp",
        ),
        pytest.param(
            lambda body: sign_webhook("whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB", "m-4", body),
            id="other-secret",
        ),
        pytest.param(lambda body: {"webhook-id": "m-5"}, id="id-without-signature"),
    ],
)
@pytest.mark.parametrize("path", ["/tickets", "/tickets/batch"])
def test_every_ticket_route_refuses_bad_signatures(
    signing_api: LiveApi, signer_key: str, path: str, headers: Any
) -> None:
    payload = ticket(external_id="sig-1")
    body = dumps(payload if path == "/tickets" else {"tickets": [payload], "deliver": True})
    response = raw_post(signing_api, path, body, signer_key, **headers(body))
    assert response.status_code == 401, response.text
    assert all(t["external_id"] != "sig-1" for t in _all(signing_api))


def test_malformed_signature_headers_are_400_on_the_batch(
    signing_api: LiveApi, signer_key: str
) -> None:
    body = dumps({"tickets": [ticket()]})
    headers = signed(body, "m-6") | {"webhook-signature": "v1,%%%not-base64"}
    response = raw_post(signing_api, "/tickets/batch", body, signer_key, **headers)
    assert response.status_code in (400, 401)
    assert response.status_code < 500


def test_unsigned_connector_webhook_is_refused(signing_api: LiveApi) -> None:
    response = httpx.post(
        signing_api.base_url + "/webhooks/zendesk",
        json=BODIES["webhooks.receive_webhook"],
        timeout=30,
    )
    assert response.status_code == 401


def test_signed_batch_is_stored(signing_api: LiveApi, signer_key: str) -> None:
    body = dumps({"tickets": [ticket(external_id="ok-1")]})
    response = raw_post(signing_api, "/tickets/batch", body, signer_key, **signed(body, "m-7"))
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 1


def _all(api: LiveApi) -> list[dict[str, Any]]:
    page = httpx.get(
        api.base_url + "/tickets", headers={"X-API-Key": api.admin_key}, timeout=30
    ).json()
    return list(page["tickets"])
