"""Guessing keys at the console's sign-in form is limited per address, like the API."""

from __future__ import annotations

from celery import Celery

from ingest_api.app import create_app
from pipeline.domain.operator import Role
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore
from tests.ingest_api.console.test_views import csrf_of, mint


def test_failed_sign_ins_are_limited_per_address_with_the_api(
    settings: Settings, store: TicketStore, celery_app: Celery
) -> None:
    api = create_app(
        settings.model_copy(update={"auth_failure_limit": "3/minute"}),
        store=store,
        celery_app=celery_app,
    )
    client = api.test_client()
    valid = mint(store, Role.reviewer, "lead")
    attacker = {"REMOTE_ADDR": "203.0.113.9"}
    token = csrf_of(client.get("/console/login").get_data(as_text=True))
    guess = {"api_key": f"tt_{'0' * 12}_{'x' * 43}", "csrf_token": token}
    for _ in range(3):
        assert client.post("/console/login", data=guess, environ_base=attacker).status_code == 401
    refused = client.post("/console/login", data=guess, environ_base=attacker)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    page = refused.get_data(as_text=True)
    assert "too many failed sign-ins from this address (3 per 1 minute)" in page
    # The right key from that address waits too; the API counts the same failures.
    right = {"api_key": valid, "csrf_token": token}
    assert client.post("/console/login", data=right, environ_base=attacker).status_code == 429
    api_call = client.get("/tickets", headers={"X-API-Key": valid}, environ_base=attacker)
    assert api_call.status_code == 429
    elsewhere = {"REMOTE_ADDR": "198.51.100.7"}
    assert client.post("/console/login", data=right, environ_base=elsewhere).status_code == 302
