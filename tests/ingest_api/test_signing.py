"""Sources with webhook secrets must sign; malformed signatures are 400, wrong ones 401."""

from __future__ import annotations

import base64
import json

import pytest
from celery import Celery
from flask import Flask
from pydantic import SecretStr

from ingest_api.app import create_app
from pipeline.adapters.signatures import sign_webhook
from pipeline.domain.operator import Role
from pipeline.operations.api_keys import create_key
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore
from tests.conftest import TEST_PEPPER

SECRET = "whsec_" + base64.b64encode(b"zendesk-signing-secret-123456").decode()
BODY = json.dumps({"subject": "s", "description": "d", "customer_id": "c"}).encode()


@pytest.fixture
def signed_api(settings: Settings, store: TicketStore, celery_app: Celery) -> Flask:
    settings = settings.model_copy(update={"webhook_secrets": {"zendesk": [SecretStr(SECRET)]}})
    return create_app(settings, store=store, celery_app=celery_app)


def post(api: Flask, store: TicketStore, headers: dict[str, str], body: bytes = BODY):  # type: ignore[no-untyped-def]
    key = create_key(
        store, TEST_PEPPER.encode(), f"zd{len(headers)}{body[:3]!r}", Role.producer, "zendesk"
    )
    return api.test_client().post(
        "/tickets",
        data=body,
        headers={"X-API-Key": key, "Content-Type": "application/json", **headers},
    )


def test_signed_request_is_accepted_and_webhook_id_is_the_idempotency_key(
    signed_api: Flask, store: TicketStore
) -> None:
    headers = sign_webhook(SECRET, "msg_42", BODY)
    first = post(signed_api, store, headers)
    again = signed_api.test_client().post(
        "/tickets",
        data=BODY,
        headers={
            "X-API-Key": create_key(store, TEST_PEPPER.encode(), "zd2", Role.producer, "zendesk"),
            "Content-Type": "application/json",
            **headers,
        },
    )
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.get_json()["id"] == again.get_json()["id"]


def test_unsigned_request_from_a_signing_source_is_401(
    signed_api: Flask, store: TicketStore
) -> None:
    response = post(signed_api, store, {})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_signature"
    assert store.count_by_status() == {}


def test_wrong_secret_is_401(signed_api: Flask, store: TicketStore) -> None:
    other = "whsec_" + base64.b64encode(b"another-secret-entirely-000").decode()
    assert post(signed_api, store, sign_webhook(other, "m", BODY)).status_code == 401


def test_malformed_signature_is_400(signed_api: Flask, store: TicketStore) -> None:
    headers = sign_webhook(SECRET, "m", BODY) | {"webhook-signature": "v1"}
    response = post(signed_api, store, headers)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_signature"


def test_sources_without_secrets_need_no_signature(api: Flask, store: TicketStore) -> None:
    key = create_key(store, TEST_PEPPER.encode(), "plain", Role.producer, "api")
    response = api.test_client().post(
        "/tickets", data=BODY, headers={"X-API-Key": key, "Content-Type": "application/json"}
    )
    assert response.status_code == 202
