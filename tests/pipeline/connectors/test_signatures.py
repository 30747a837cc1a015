"""Each connector verifies its helpdesk's signature exactly as the helpdesk computes it."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.connectors import (
    CONNECTORS,
    NoSecret,
    SignatureExpired,
    SignatureMismatch,
    SignatureMissing,
)
from tests.support.connectors import OLD_SECRET, SECRET, signed, zendesk_headers

BODY = b'{"hello": "world"}'
NOW = datetime.now(UTC)  # reset before each test: signed headers default to the real clock
WINDOW = timedelta(minutes=5)
ALL = sorted(CONNECTORS)


@pytest.fixture(autouse=True)
def _now() -> None:
    # A module-level "now" goes stale when the test runs minutes after collection (a long
    # suite before it), and the replay window then rejects headers signed at the real time.
    global NOW
    NOW = datetime.now(UTC)


def verify(connector: str, headers: dict[str, str], secrets: list[str], body: bytes = BODY) -> None:
    CONNECTORS[connector].verify(headers, body, secrets, NOW, WINDOW)


@pytest.mark.parametrize("connector", ALL)
def test_a_correct_signature_verifies(connector: str) -> None:
    verify(connector, signed(connector, BODY), [SECRET])


@pytest.mark.parametrize("connector", ALL)
def test_any_secret_of_a_rotation_verifies(connector: str) -> None:
    verify(connector, signed(connector, BODY, OLD_SECRET), [SECRET, OLD_SECRET])


@pytest.mark.parametrize("connector", ALL)
def test_header_names_are_case_insensitive(connector: str) -> None:
    headers = {name.lower(): value for name, value in signed(connector, BODY).items()}
    verify(connector, headers, [SECRET])


@pytest.mark.parametrize("connector", ALL)
def test_a_wrong_secret_or_changed_body_is_a_mismatch(connector: str) -> None:
    with pytest.raises(SignatureMismatch):
        verify(connector, signed(connector, BODY, "not-the-secret"), [SECRET])
    if connector not in ("freshdesk", "email"):  # shared secrets do not sign the body
        with pytest.raises(SignatureMismatch):
            verify(connector, signed(connector, BODY), [SECRET], body=BODY + b" ")


@pytest.mark.parametrize("connector", ALL)
def test_a_missing_signature_is_missing(connector: str) -> None:
    with pytest.raises(SignatureMissing):
        verify(connector, {}, [SECRET])


@pytest.mark.parametrize("connector", ALL)
def test_no_secret_configured_refuses_even_a_signed_request(connector: str) -> None:
    with pytest.raises(NoSecret):
        verify(connector, signed(connector, BODY), [])


@pytest.mark.parametrize("age", [timedelta(minutes=6), timedelta(minutes=-6)])
def test_zendesk_timestamps_outside_the_replay_window_are_expired(age: timedelta) -> None:
    headers = zendesk_headers(BODY, at=NOW - age)
    with pytest.raises(SignatureExpired):
        verify("zendesk", headers, [SECRET])


def test_zendesk_unreadable_timestamp_is_expired() -> None:
    headers = {**zendesk_headers(BODY), "X-Zendesk-Webhook-Signature-Timestamp": "yesterday"}
    with pytest.raises(SignatureExpired):
        verify("zendesk", headers, [SECRET])


def test_zendesk_signature_covers_the_timestamp() -> None:
    headers = zendesk_headers(BODY, at=NOW)
    headers["X-Zendesk-Webhook-Signature-Timestamp"] = (NOW - timedelta(seconds=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    with pytest.raises(SignatureMismatch):
        verify("zendesk", headers, [SECRET])


def test_email_takes_the_secret_as_basic_auth_password() -> None:
    token = base64.b64encode(f"triage:{SECRET}".encode()).decode()
    verify("email", {"Authorization": f"Basic {token}"}, [SECRET])
    wrong = base64.b64encode(b"triage:nope").decode()
    with pytest.raises(SignatureMismatch):
        verify("email", {"Authorization": f"Basic {wrong}"}, [SECRET])
    with pytest.raises(SignatureMismatch):
        verify("email", {"Authorization": "Basic !!!"}, [SECRET])
