"""Who is let in at the API: the key's two spellings, the role table, and the 401/403 answers."""

from __future__ import annotations

import pytest
from celery import Celery
from flask import Flask

from ingest_api.app import create_app
from ingest_api.auth import ALLOWED, presented_key, requires
from pipeline.domain.operator import Role
from pipeline.operations.api_keys import create_key
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore
from tests.conftest import TEST_PEPPER

TICKET = {"subject": "s", "description": "d", "customer_id": "c"}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-API-Key": " tt_k "}, "tt_k"),
        ({"Authorization": "Bearer tt_k"}, "tt_k"),
        ({"Authorization": "bearer  tt_k "}, "tt_k"),
        ({"X-API-Key": "tt_a", "Authorization": "Bearer tt_b"}, "tt_a"),  # the header first
        ({"X-API-Key": "", "Authorization": "Bearer tt_b"}, "tt_b"),
        ({"Authorization": "Basic dXNlcg=="}, None),
        ({"Authorization": "Bearer "}, None),
        ({"Authorization": "Bearer"}, None),
        ({}, None),
    ],
)
def test_the_key_is_read_from_either_header(headers: dict[str, str], expected: str | None) -> None:
    with Flask(__name__).test_request_context(headers=headers):
        assert presented_key() == expected


def test_the_role_table() -> None:
    assert ALLOWED[Role.producer] == {Role.producer, Role.admin}
    assert ALLOWED[Role.reader] == {Role.reader, Role.reviewer, Role.admin}
    assert ALLOWED[Role.reviewer] == {Role.reviewer, Role.admin}
    assert ALLOWED[Role.admin] == {Role.admin}


def test_a_guarded_view_names_its_role_for_the_openapi_document() -> None:
    @requires(Role.reviewer)
    def view() -> str:
        """A view."""
        return "ok"

    assert view.required_role is Role.reviewer  # type: ignore[attr-defined]
    assert view.__name__ == "view" and view.__doc__ == "A view."


def test_without_a_key_401_with_a_bearer_challenge(api: Flask) -> None:
    response = api.test_client().post("/tickets", json=TICKET)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    error = response.get_json()["error"]
    assert error["code"] == "unauthorized"
    assert error["message"] == "missing API key: send X-API-Key or Authorization: Bearer"


def test_a_wrong_key_401_and_the_key_is_not_echoed(api: Flask) -> None:
    wrong = "tt_" + "0" * 12 + "_" + "s" * 43
    response = api.test_client().post("/tickets", json=TICKET, headers={"X-API-Key": wrong})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.get_json()["error"]["message"] == "invalid or revoked API key"
    assert wrong not in response.get_data(as_text=True)


def test_a_key_of_the_wrong_role_403_with_both_roles(api: Flask, store: TicketStore) -> None:
    reader = create_key(store, TEST_PEPPER.encode(), "r", Role.reader, "api")
    response = api.test_client().post("/tickets", json=TICKET, headers={"X-API-Key": reader})
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["code"] == "forbidden"
    assert error["message"] == "a reader key cannot do this"
    assert error["details"] == {"required_role": "producer", "key_role": "reader"}


def test_an_admin_may_do_what_a_producer_may(api: Flask, store: TicketStore) -> None:
    admin = create_key(store, TEST_PEPPER.encode(), "a", Role.admin, "api")
    response = api.test_client().post("/tickets", json=TICKET, headers={"X-API-Key": admin})
    assert response.status_code == 202


def test_an_address_that_keeps_failing_is_told_when_to_come_back(
    settings: Settings, store: TicketStore, celery_app: Celery
) -> None:
    api = create_app(
        settings.model_copy(update={"auth_failure_limit": "2/minute"}),
        store=store,
        celery_app=celery_app,
    )
    client = api.test_client()
    wrong = {"X-API-Key": "tt_" + "0" * 12 + "_" + "x" * 43}
    for _ in range(2):
        client.post("/tickets", json=TICKET, headers=wrong)
    answer = client.post("/tickets", json=TICKET, headers=wrong)
    assert answer.status_code == 429
    error = answer.get_json()["error"]
    assert error["message"] == "too many failed authentications from this address (2 per 1 minute)"
    assert set(error["details"]) == {"limit", "retry_after_s"}
    assert answer.headers["Retry-After"] == str(error["details"]["retry_after_s"])
