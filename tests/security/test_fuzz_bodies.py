"""Fuzzing the parsers of outside input: only our typed errors ever come out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from ingest_api.app import create_app
from ingest_api.bodies import BodyRejected, first_problem, loads_lenient, loads_strict
from pipeline.adapters.signatures import SignatureInvalid, SignatureMalformed, verify_webhook
from pipeline.domain.models import TicketSubmission, payload_fingerprint
from pipeline.domain.operator import Role
from pipeline.operations.api_keys import create_key
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore
from tests.conftest import TEST_PEPPER
from tests.security.attack import SECRET, SIGNING_SOURCE, signed
from workers.celery_app import create_celery_app

FUZZ = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)

# Fragments that JSON parsers trip on, mixed into generated text.
FRAGMENTS = st.sampled_from(
    [
        "NaN",
        "Infinity",
        "-Infinity",
        "1e400",
        "-1e400",
        "9" * 30,
        "\\ud800",
        "\\udfff",
        "\\u0000",
        '"a":1,"a":2',
        "[" * 40,
        "]" * 40,
        "{",
        "}",
        ",",
        ":",
        '"',
        "\\",
        "null",
        "true",
        "1.5",
        "-0",
        "0e0",
        '"subject"',
        '"created_at":"0001-01-01T00:00:00+14:00"',
    ]
)
JSONISH = st.lists(st.one_of(FRAGMENTS, st.text(max_size=8)), max_size=30).map("".join)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _storable(value: Any) -> None:
    """What the store and the fingerprint do with an accepted value must not raise."""
    json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    payload_fingerprint(value)


@FUZZ
@given(st.binary(max_size=300) | JSONISH.map(str.encode))
def test_strict_parser_raises_only_body_rejected(raw: bytes) -> None:
    try:
        value = loads_strict(raw)
    except BodyRejected:
        return
    _storable(value)


@FUZZ
@given(JSON_VALUES)
def test_strict_parser_round_trips_what_python_json_writes(value: Any) -> None:
    text = json.dumps(value)  # may hold NaN/Infinity: those must be refused, not crash
    try:
        parsed = loads_strict(text)
    except BodyRejected:
        return
    _storable(parsed)


@FUZZ
@given(JSONISH)
def test_lenient_parser_and_item_check_raise_nothing_else(text: str) -> None:
    try:
        value = loads_lenient(text)
    except BodyRejected:
        return
    if first_problem(value) is None:
        _storable(value)


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "subject",
                "description",
                "customer_id",
                "created_at",
                "external_id",
                "category",
                "priority",
                "x",
            ]
        ),
        JSON_VALUES,
        max_size=8,
    )
)
def test_ticket_model_raises_only_validation_errors(fields: dict[str, Any]) -> None:
    try:
        submission = TicketSubmission.model_validate(fields)
    except ValidationError:
        return
    _storable(submission.metadata())


HEADER_VALUE = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["v1,", "v1,!!!", "v1,AAAA", "v1a,xx", ",", "v1,=", "99999999999999999999"]),
)


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature", "x"]),
        HEADER_VALUE,
    ),
    st.binary(max_size=64),
)
def test_signature_parser_raises_only_signature_errors(
    headers: dict[str, str], body: bytes
) -> None:
    try:
        verify_webhook([SECRET], body, headers)
    except (SignatureInvalid, SignatureMalformed):
        return
    raise AssertionError("random headers verified")


# --- the routes themselves, in process -------------------------------------------------------


@pytest.fixture
def fuzz_client(settings: Settings, store: TicketStore) -> Iterator[tuple[FlaskClient, str, str]]:
    settings = settings.model_copy(
        update={"webhook_secrets": {SIGNING_SOURCE: [SecretStr(SECRET)]}}
    )
    app: Flask = create_app(settings, store=store, celery_app=create_celery_app(settings))
    admin = create_key(store, TEST_PEPPER.encode(), "fuzz-admin", Role.admin, "api")
    signer = create_key(store, TEST_PEPPER.encode(), "fuzz-signer", Role.producer, SIGNING_SOURCE)
    yield app.test_client(), admin, signer


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.binary(max_size=200) | JSONISH.map(str.encode),
    path=st.sampled_from(["/tickets", "/tickets/batch"]),
    wrap=st.booleans(),
)
def test_ticket_routes_never_answer_5xx(
    fuzz_client: tuple[FlaskClient, str, str], body: bytes, path: str, wrap: bool
) -> None:
    client, admin, _ = fuzz_client
    if wrap:
        body = b'{"subject":"s","description":"d","customer_id":"c","x":' + body + b"}"
        if path == "/tickets/batch":
            body = b'{"tickets":[' + body + b"]}"
    response = client.post(
        path, data=body, headers={"X-API-Key": admin, "Content-Type": "application/json"}
    )
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.is_json


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    headers=st.dictionaries(
        st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature"]),
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80),
    ),
    use_real=st.booleans(),
)
def test_signed_routes_never_answer_5xx(
    fuzz_client: tuple[FlaskClient, str, str], headers: dict[str, str], use_real: bool
) -> None:
    client, _, signer = fuzz_client
    body = b'{"subject":"s","description":"d","customer_id":"c"}'
    sent = {**signed(body, "m"), **headers} if use_real else headers
    response = client.post(
        "/tickets",
        data=body,
        headers={"X-API-Key": signer, "Content-Type": "application/json", **sent},
    )
    assert response.status_code < 500
    assert response.status_code in (200, 202, 400, 401, 422)
