"""The OpenAPI document is generated from the routes, so it cannot drift from them."""

from __future__ import annotations

import re

import pytest
from flask import Flask, jsonify
from flask.testing import FlaskClient

from ingest_api.openapi import UNDOCUMENTED_ENDPOINTS, build_openapi


def test_every_route_and_method_is_in_the_document(api: Flask, client: FlaskClient) -> None:
    document = client.get("/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    for rule in api.url_map.iter_rules():
        if rule.endpoint.startswith(UNDOCUMENTED_ENDPOINTS):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        assert path in document["paths"], path
        for method in rule.methods - {"HEAD", "OPTIONS"}:  # type: ignore[operator]
            assert method.lower() in document["paths"][path], (path, method)


def test_an_undocumented_route_fails_the_build(api: Flask) -> None:
    api.add_url_rule("/sneaky", "sneaky", lambda: jsonify({}))
    with pytest.raises(LookupError, match="/sneaky"):
        build_openapi(api)


def test_statuses_and_security_are_declared(client: FlaskClient) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]
    post = paths["/tickets"]["post"]
    assert set(post["responses"]) >= {
        "200",
        "202",
        "400",
        "401",
        "403",
        "409",
        "413",
        "415",
        "422",
        "429",
        "503",
    }
    assert post["x-required-role"] == "producer"
    assert {"ApiKeyHeader": []} in post["security"]
    assert "404" in paths["/tickets/{ticket_id}"]["get"]["responses"]
    assert "security" not in paths["/healthz"]["get"]


def test_request_schema_comes_from_the_model(client: FlaskClient) -> None:
    document = client.get("/openapi.json").get_json()
    schema = document["components"]["schemas"]["TicketSubmission"]
    assert set(schema["required"]) == {"subject", "description", "customer_id"}
    assert schema["properties"]["description"]["maxLength"] == 100_000


def test_docs_page_is_served_offline(client: FlaskClient) -> None:
    page = client.get("/docs/")
    assert page.status_code == 200 and b"swagger" in page.data.lower()
    assert client.get("/docs/swagger-ui-bundle.js").status_code == 200
