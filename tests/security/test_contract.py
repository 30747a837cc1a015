"""Class 9: the OpenAPI document says exactly what is accepted, and the API accepts exactly that."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
from flask import Flask
from flask.testing import FlaskClient

from ingest_api.app import create_app
from ingest_api.sources import ticket_routes
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore
from tests.conftest import admin_key
from tests.security.attack import ticket
from workers.celery_app import create_celery_app


@pytest.fixture
def app(settings: Settings, store: TicketStore) -> Flask:
    return create_app(settings, store=store, celery_app=create_celery_app(settings))


@pytest.fixture
def client(app: Flask, store: TicketStore) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_X_API_KEY"] = admin_key(store)
    return client


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    return dict(client.get("/openapi.json").get_json())


def accepts(document: dict[str, Any], schema: dict[str, Any], value: Any) -> bool:
    root = {**schema, "components": document["components"]}
    return bool(jsonschema_rs.Draft202012Validator(root).is_valid(value))


# Bodies on both sides of each stated rule: the document and the API must agree on each.
BODIES = [
    ticket(),
    ticket(subject="  padded  "),
    ticket(subject=" "),
    ticket(subject="\t"),
    ticket(subject=""),
    ticket(subject="x" * 1000),
    ticket(subject="x" * 1001),
    ticket(created_at="2024-02-29T10:00:00Z"),
    ticket(created_at="2024-01-01T10:00:00+14:00"),
    ticket(created_at="2024-01-01T10:00:00"),
    ticket(created_at="2024-01-01"),
    ticket(created_at="0001-01-01T00:00:00+14:00"),
    ticket(created_at="2024-13-01T00:00:00Z"),
    ticket(created_at=0),
    ticket(created_at=None),
    ticket(external_id="E-1"),
    ticket(external_id="sha256:x"),
    ticket(external_id="idempotency-key:x"),
    ticket(external_id=""),
    ticket(priority="urgent"),
    ticket(priority="URGENT"),
    ticket(extra={"a": [1, 2.5, None, True, "s"]}),
    ticket(n=10**19),
    ticket(n=10**20),
    ticket(f=1e19),
    ticket(f=-1e21),
    ticket(s="a\x00b"),
    {"subject": "s", "description": "d"},
    [],
    "ticket",
]


@pytest.mark.parametrize("body", BODIES, ids=[str(i) for i in range(len(BODIES))])
def test_ticket_schema_and_api_agree(
    client: FlaskClient, document: dict[str, Any], body: Any
) -> None:
    schema = document["paths"]["/tickets"]["post"]["requestBody"]["content"]["application/json"]
    stated = accepts(document, schema["schema"], body)
    response = client.post("/tickets", json=body)
    assert (response.status_code in (200, 202)) is stated, (body, response.get_json())


BATCHES = [
    {"tickets": [ticket()]},
    {"tickets": [{"anything": 1}]},  # any object: an invalid item is rejected in the results
    {"tickets": [ticket()], "deliver": True},
    {"tickets": [ticket()], "deliver": 0},
    {"tickets": [ticket()], "deliver": "yes"},
    {"tickets": [ticket()], "other": 1},
    {"tickets": []},
    {"tickets": [1]},
    {},
]


@pytest.mark.parametrize("body", BATCHES, ids=[str(i) for i in range(len(BATCHES))])
def test_batch_schema_and_api_agree(
    client: FlaskClient, document: dict[str, Any], body: Any
) -> None:
    operation = document["paths"]["/tickets/batch"]["post"]
    stated = accepts(
        document, operation["requestBody"]["content"]["application/json"]["schema"], body
    )
    assert (client.post("/tickets/batch", json=body).status_code == 202) is stated, body


QUERIES = [
    {},
    {"limit": "1"},
    {"limit": "500"},
    {"limit": "0"},
    {"limit": "501"},
    {"limit": "abc"},
    {"limit": "1.5"},
    {"status": ""},
    {"status": "received"},
    {"status": "nope"},
    {"since": ""},
    {"since": "2024-01-01T00:00:00Z"},
    {"since": "2024-01-01T00:00:00"},
    {"since": "2024-01-01"},
    {"cursor": ""},
    {"cursor": "abc"},
]


@pytest.mark.parametrize("query", QUERIES, ids=[str(q) for q in QUERIES])
def test_list_parameters_and_api_agree(
    client: FlaskClient, document: dict[str, Any], query: dict[str, str]
) -> None:
    parameters = document["paths"]["/tickets"]["get"]["parameters"]
    stated = True
    for parameter in parameters:
        if parameter["name"] in query:
            raw = query[parameter["name"]]
            value: Any = raw
            if parameter["schema"].get("type") == "integer":
                value = int(raw) if raw.isdigit() else raw
            stated = stated and accepts(document, parameter["schema"], value)
    response = client.get("/tickets", query_string=query)
    assert (response.status_code == 200) is stated, (query, response.get_json())


def test_every_ticket_route_declares_its_signature_errors(
    app: Flask, document: dict[str, Any]
) -> None:
    paths = {
        "tickets.create_ticket": "/tickets",
        "batch.create_batch": "/tickets/batch",
        "webhooks.receive_webhook": "/webhooks/{connector}",
    }
    for endpoint in ticket_routes(app):
        responses = document["paths"][paths[endpoint]]["post"]["responses"]
        assert {"400", "401"} <= set(responses), endpoint


def test_category_correction_states_the_known_categories(
    app: Flask, document: dict[str, Any]
) -> None:
    schema = document["components"]["schemas"]["CategoryCorrection"]
    assert schema["properties"]["category"]["enum"] == sorted(
        app.extensions["triage"].routing.categories
    )
    assert schema["additionalProperties"] is False


def test_path_ids_state_that_control_characters_are_refused(document: dict[str, Any]) -> None:
    [parameter] = document["paths"]["/tickets/{ticket_id}"]["get"]["parameters"]
    assert accepts(document, parameter["schema"], "abc")
    assert not accepts(document, parameter["schema"], "a\x00b")
    assert "400" in document["paths"]["/tickets/{ticket_id}"]["get"]["responses"]
