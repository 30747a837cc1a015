"""Keys and roles on every route: 401 without a valid key, 403 for the wrong role."""

from __future__ import annotations

import pytest
from celery import Celery
from flask import Flask

from ingest_api.app import create_app
from pipeline.domain.operator import Role
from pipeline.operations.api_keys import create_key, list_keys, revoke_key
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore
from tests.conftest import TEST_PEPPER

TICKET = {"subject": "s", "description": "d", "customer_id": "c"}


def key(store: TicketStore, role: Role, name: str, source: str = "api") -> str:
    return create_key(store, TEST_PEPPER.encode(), name, role, source)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "nonsense"},
        {"Authorization": "Bearer tt_000000000000_" + "x" * 43},
        {"Authorization": "Basic abc"},
    ],
)
def test_missing_or_invalid_key_is_401(api: Flask, headers: dict[str, str]) -> None:
    response = api.test_client().post("/tickets", json=TICKET, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_bearer_and_header_both_work(api: Flask, store: TicketStore) -> None:
    producer = key(store, Role.producer, "p")
    client = api.test_client()
    assert client.post("/tickets", json=TICKET, headers={"X-API-Key": producer}).status_code == 202
    assert (
        client.post(
            "/tickets",
            json={**TICKET, "subject": "t"},
            headers={"Authorization": f"Bearer {producer}"},
        ).status_code
        == 202
    )


def test_roles(api: Flask, store: TicketStore) -> None:
    client = api.test_client()
    producer = {"X-API-Key": key(store, Role.producer, "p")}
    reader = {"X-API-Key": key(store, Role.reader, "r")}
    ticket_id = client.post("/tickets", json=TICKET, headers=producer).get_json()["id"]

    assert client.get(f"/tickets/{ticket_id}", headers=producer).status_code == 403
    assert client.get(f"/tickets/{ticket_id}", headers=reader).status_code == 200
    assert client.post("/tickets", json=TICKET, headers=reader).status_code == 403
    forbidden = client.post(f"/tickets/{ticket_id}/classify", headers=reader)
    assert forbidden.status_code == 403
    assert forbidden.get_json()["error"]["details"] == {
        "required_role": "admin",
        "key_role": "reader",
    }


def test_revoked_key_stops_working(api: Flask, store: TicketStore, settings) -> None:  # type: ignore[no-untyped-def]
    producer = {"X-API-Key": key(store, Role.producer, "p")}
    client = api.test_client()
    assert client.post("/tickets", json=TICKET, headers=producer).status_code == 202
    revoke_key(store, "p")
    api.extensions["triage"].keys._cache.clear()  # skip the verifier's short cache
    assert client.post("/tickets", json=TICKET, headers=producer).status_code == 401
    assert [k.revoked_at is not None for k in list_keys(store)] == [True]


def test_key_source_scopes_idempotency(api: Flask, store: TicketStore) -> None:
    client = api.test_client()
    zendesk = {"X-API-Key": key(store, Role.producer, "z", "zendesk"), "Idempotency-Key": "1"}
    intercom = {"X-API-Key": key(store, Role.producer, "i", "intercom"), "Idempotency-Key": "1"}
    a = client.post("/tickets", json=TICKET, headers=zendesk).get_json()
    b = client.post("/tickets", json=TICKET, headers=intercom).get_json()
    assert a["id"] != b["id"]
    assert store.get(a["id"]).source == "zendesk"


def test_only_a_keyed_hash_is_stored(store: TicketStore) -> None:
    secret = key(store, Role.admin, "a")
    [public] = store.api_keys.all()
    stored = store.api_keys.by_prefix(public.prefix)
    assert stored is not None
    assert secret not in (stored.key_hash, public.prefix, public.name)
    assert len(stored.key_hash) == 64


def test_every_minted_key_verifies(api: Flask, store: TicketStore) -> None:
    verifier = api.extensions["triage"].keys
    keys = [key(store, Role.reader, f"k{i}") for i in range(40)]  # random bodies, any alphabet
    assert all(verifier.verify(k) is not None for k in keys)
    assert verifier.verify(keys[0][:-1] + ("A" if keys[0][-1] != "A" else "B")) is None


def test_erasure_needs_admin_and_reports_the_count(api: Flask, store: TicketStore) -> None:
    client = api.test_client()
    producer = {"X-API-Key": key(store, Role.producer, "p")}
    admin = {"X-API-Key": key(store, Role.admin, "a")}
    client.post("/tickets", json={**TICKET, "customer_id": "cus_9"}, headers=producer)
    assert client.delete("/customers/cus_9/data", headers=producer).status_code == 403
    response = client.delete("/customers/cus_9/data", headers=admin)
    assert response.get_json() == {"customer_id": "cus_9", "tickets_erased": 1, "complete": True}


def test_failed_authentication_is_rate_limited_per_address_as_json(
    settings: Settings, store: TicketStore, celery_app: Celery
) -> None:
    api = create_app(
        settings.model_copy(update={"auth_failure_limit": "3/minute"}),
        store=store,
        celery_app=celery_app,
    )
    client = api.test_client()
    valid = key(store, Role.producer, "p")
    wrong = {"X-API-Key": f"tt_{'0' * 12}_{'x' * 43}"}
    attacker = {"REMOTE_ADDR": "203.0.113.9"}
    for _ in range(3):
        assert (
            client.post("/tickets", json=TICKET, headers=wrong, environ_base=attacker).status_code
            == 401
        )
    answer = client.post("/tickets", json=TICKET, headers=wrong, environ_base=attacker)
    assert answer.status_code == 429
    assert int(answer.headers["Retry-After"]) >= 1
    assert answer.get_json()["error"]["code"] == "rate_limited"
    assert answer.get_json()["error"]["details"]["limit"] == "3 per 1 minute"
    locked = client.post(
        "/tickets", json=TICKET, headers={"X-API-Key": valid}, environ_base=attacker
    )
    assert locked.status_code == 429
    elsewhere = {"REMOTE_ADDR": "198.51.100.7"}
    ok = client.post("/tickets", json=TICKET, headers={"X-API-Key": valid}, environ_base=elsewhere)
    assert ok.status_code == 202


def test_a_big_erasure_answers_202_until_it_is_complete(
    settings: Settings, store: TicketStore, celery_app: Celery
) -> None:
    api = create_app(
        settings.model_copy(update={"erase_request_limit": 2}), store=store, celery_app=celery_app
    )
    client = api.test_client()
    admin = {"X-API-Key": key(store, Role.admin, "a")}
    for i in range(3):
        body = {**TICKET, "subject": f"s{i}", "customer_id": "cus_big"}
        assert client.post("/tickets", json=body, headers=admin).status_code == 202
    first = client.delete("/customers/cus_big/data", headers=admin)
    assert first.status_code == 202 and first.headers["Retry-After"] == "0"
    assert first.get_json() == {"customer_id": "cus_big", "tickets_erased": 2, "complete": False}
    second = client.delete("/customers/cus_big/data", headers=admin)
    assert second.status_code == 200
    assert second.get_json() == {"customer_id": "cus_big", "tickets_erased": 1, "complete": True}
