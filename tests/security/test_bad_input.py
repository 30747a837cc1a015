"""Classes 5, 6 and 9: malformed input is 400/422 (per item in a batch), never 5xx."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from flask import Flask
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from ingest_api.app import create_app
from ingest_api.context import api_context
from pipeline.domain.operator import Role
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore
from tests.conftest import admin_key
from tests.security.attack import dumps, mint_key, raw_post, ticket
from tests.security.conftest import LiveApi
from workers.celery_app import create_celery_app

TICKET = dumps(ticket())[:-1]  # a ticket body without its closing brace, to append fields

# Bodies whose values the API does not accept: (id, raw JSON body, expected status).
BAD_BODIES: list[tuple[str, bytes, int]] = [
    ("nan", TICKET + b',"score":NaN}', 400),
    ("infinity", TICKET + b',"score":Infinity}', 400),
    ("minus-infinity", TICKET + b',"score":-Infinity}', 400),
    ("1e400", TICKET + b',"score":1e400}', 400),
    ("minus-1e400", TICKET + b',"score":-1e400}', 400),
    ("nan-nested", TICKET + b',"extra":{"a":[1,{"b":NaN}]}}', 400),
    ("int-4301-digits", TICKET + b',"n":' + b"9" * 4301 + b"}", 400),
    ("int-21-digits", TICKET + b',"n":' + b"9" * 21 + b"}", 400),
    ("nested-1000", TICKET + b',"deep":' + b"[" * 1000 + b"]" * 1000 + b"}", 400),
    ("nested-100000", b"[" * 100_000 + b"]" * 100_000, 400),
    ("nested-33-objects", TICKET + b',"deep":' + b'{"a":' * 33 + b"1" + b"}" * 33 + b"}", 400),
    ("lone-surrogate-value", TICKET + b',"x":"\\ud800"}', 400),
    ("lone-surrogate-key", TICKET + b',"\\udfff":1}', 400),
    ("lone-surrogate-subject", dumps(ticket())[:-1] + b',"subject":"\\udc00"}', 400),
    ("not-utf8", TICKET + b',"x":"\xff\xfe"}', 400),
    ("duplicate-key", TICKET + b',"subject":"again"}', 400),
    ("duplicate-key-nested", TICKET + b',"x":{"a":1,"a":2}}', 400),
    ("nul-in-extra", TICKET + b',"x":"a\\u0000b"}', 422),
    ("nul-in-extra-key", TICKET + b',"a\\u0000":1}', 422),
    ("nul-in-subject", dumps(ticket(subject="a\x00b")), 422),
    ("created-at-year-1-plus-14", dumps(ticket(created_at="0001-01-01T00:00:00+14:00")), 422),
    ("created-at-9999-minus-14", dumps(ticket(created_at="9999-12-31T23:59:59-14:00")), 422),
    ("created-at-0", dumps(ticket(created_at=0)), 422),
    ("created-at-string-0", dumps(ticket(created_at="0")), 422),
    ("created-at-epoch", dumps(ticket(created_at=1700000000)), 422),
    ("created-at-date-only", dumps(ticket(created_at="2024-01-01")), 422),
    ("created-at-true", dumps(ticket(created_at=True)), 422),
    ("created-at-month-13", dumps(ticket(created_at="2024-13-01T00:00:00Z")), 422),
    ("whitespace-subject", dumps(ticket(subject="   ")), 422),
    ("whitespace-tabs", dumps(ticket(description="\t\n\r")), 422),
    ("whitespace-ideographic", dumps(ticket(customer_id="\u3000")), 422),
    ("whitespace-file-separator", dumps(ticket(subject="\x1c")), 422),
    ("subject-too-long", dumps(ticket(subject="x" * 1001)), 422),
    ("subject-padded-too-long", dumps(ticket(subject=" " + "x" * 1000)), 422),
]


@pytest.fixture(scope="module")
def key(live_api: LiveApi) -> str:
    """This module's own admin key: its own rate-limit budget on the shared process."""
    return mint_key(live_api, "bad-input-admin", Role.admin)


def get(api: LiveApi, path: str) -> httpx.Response:
    return httpx.get(api.base_url + path, headers={"X-API-Key": api.admin_key}, timeout=30)


@pytest.mark.parametrize(
    ("body", "status"), [(b, s) for _, b, s in BAD_BODIES], ids=[i for i, _, _ in BAD_BODIES]
)
def test_bad_ticket_body_is_4xx_never_5xx(
    live_api: LiveApi, key: str, body: bytes, status: int
) -> None:
    response = raw_post(live_api, "/tickets", body, key)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert "Retry-After" not in response.headers


# Not JSON at all once inside a batch (bad bytes, past the parser's recursion): the whole
# body is 400. Every other bad item is rejected alone, the rest of its batch stored.
WHOLE_BODY = {"not-utf8", "nested-1000", "nested-100000"}


@pytest.mark.parametrize(
    ("name", "body"), [(i, b) for i, b, _ in BAD_BODIES], ids=[i for i, _, _ in BAD_BODIES]
)
def test_one_bad_item_is_rejected_alone_in_a_batch(
    live_api: LiveApi, key: str, name: str, body: bytes
) -> None:
    good = ticket(subject=f"good neighbour of {name}")
    batch = b'{"tickets":[' + dumps(good) + b"," + body + b"]}"
    response = raw_post(live_api, "/tickets/batch", batch, key)
    if name in WHOLE_BODY:
        assert response.status_code == 400, response.text
        return
    assert response.status_code == 202, response.text
    result = response.json()
    assert [r["status"] for r in result["results"]] == ["accepted", "rejected"], result
    assert result["results"][1]["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/tickets/%00",
        "/tickets/a%00b",
        "/tickets/%00/logs",
        "/tickets?cursor=%00",
        "/tickets?cursor=abc%00",
        "/tickets?since=%00",
        "/tickets?status=%00",
        "/tickets?status=received%00",
        "/tickets?%00=1",
        "/tickets/%01",
        "/tickets/%7F/logs",
        "/customers/%00/data",
    ],
)
def test_nul_and_controls_in_paths_and_queries_are_400(live_api: LiveApi, path: str) -> None:
    response = (
        get(live_api, path)
        if "customers" not in path
        else httpx.delete(
            live_api.base_url + path, headers={"X-API-Key": live_api.admin_key}, timeout=30
        )
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_characters"


@pytest.mark.parametrize(
    "path", ["/tickets/%00/classify", "/tickets/%00/replay", "/tickets/%00/route"]
)
def test_nul_in_post_path_ids_is_400(live_api: LiveApi, key: str, path: str) -> None:
    assert raw_post(live_api, path, b"", key).status_code == 400


@pytest.mark.parametrize("limit", ["abc", "1.5", "0", "-1", "501", "", " 5", "+5", "1e2", "٣"])
def test_bad_limit_is_422(live_api: LiveApi, limit: str) -> None:
    response = get(live_api, f"/tickets?limit={limit}")
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"] == [{"field": "limit"}]


@pytest.mark.parametrize("limit", ["1", "500", "100"])
def test_good_limit_is_honoured(live_api: LiveApi, limit: str) -> None:
    assert get(live_api, f"/tickets?limit={limit}").status_code == 200


@pytest.mark.parametrize("query", ["status=", "since=", "cursor=", "status=&since=&cursor="])
def test_empty_query_values_mean_absent(live_api: LiveApi, query: str) -> None:
    response = get(live_api, f"/tickets?{query}")
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "since", ["2024-01-01", "2024-01-01T00:00:00", "yesterday", "2024-13-01T00:00:00Z", "0"]
)
def test_bad_since_is_422(live_api: LiveApi, since: str) -> None:
    assert get(live_api, f"/tickets?since={since}").status_code == 422


def test_duplicate_keys_in_the_batch_envelope_are_400(live_api: LiveApi, key: str) -> None:
    body = b'{"tickets":[' + dumps(ticket()) + b'],"deliver":false,"deliver":true}'
    assert raw_post(live_api, "/tickets/batch", body, key).status_code == 400


def test_oversized_idempotency_key_is_422(live_api: LiveApi, key: str) -> None:
    response = raw_post(
        live_api, "/tickets", dumps(ticket()), key, **{"Idempotency-Key": "k" * 201}
    )
    assert response.status_code == 422


# --- class 5: only a real outage is 503 --------------------------------------------------------


@pytest.fixture
def app(settings: Settings, store: TicketStore) -> Flask:
    return create_app(settings, store=store, celery_app=create_celery_app(settings))


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (DataError("INSERT", {}, Exception("invalid input syntax")), 422),
        (IntegrityError("INSERT", {}, Exception("violates check constraint")), 422),
        (OperationalError("INSERT", {}, Exception("server closed the connection")), 503),
    ],
    ids=["data-error", "integrity-error", "outage"],
)
def test_only_an_outage_is_503(
    app: Flask, store: TicketStore, monkeypatch: pytest.MonkeyPatch, error: Exception, status: int
) -> None:
    with app.app_context():
        intake = api_context().intake

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(intake, "accept", refuse)
    response = app.test_client().post(
        "/tickets", json=ticket(), headers={"X-API-Key": admin_key(store)}
    )
    assert response.status_code == status
    assert ("Retry-After" in response.headers) is (status == 503)


SWEEP_PATHS = [
    "/tickets",
    "/tickets/batch",
    "/tickets/00000000-0000-0000-0000-000000000000/category",
    "/tickets/00000000-0000-0000-0000-000000000000/classify",
    "/webhooks/zendesk",
    "/webhooks/nope",
]


@pytest.mark.parametrize("path", SWEEP_PATHS)
def test_no_malformed_body_yields_a_5xx_on_any_write_route(
    live_api: LiveApi, key: str, path: str
) -> None:
    statuses = {
        name: raw_post(live_api, path, body, key).status_code for name, body, _ in BAD_BODIES
    }
    assert all(status < 500 for status in statuses.values()), statuses
