"""Standard Webhooks at the edges: the headers a department verifies, and what we refuse."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from pipeline.adapters.signatures import (
    SignatureInvalid,
    SignatureMalformed,
    sign_webhook,
    verify_webhook,
)

SECRET = "whsec_" + base64.b64encode(b"contract-secret-0123456789").decode()
OTHER = "whsec_" + base64.b64encode(b"another-secret-0123456789").decode()
BODY = '{"subject":"Grüße"}'.encode()


def test_signed_headers_are_exactly_the_three_standard_ones() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    headers = sign_webhook(SECRET, "t1:1", BODY, at=at)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "t1:1"
    assert headers["webhook-timestamp"] == str(int(at.timestamp())) == "1767323045"
    assert headers["webhook-signature"] == Webhook(SECRET).sign("t1:1", at, BODY.decode())
    assert headers["webhook-signature"].startswith("v1,")


def test_without_a_time_we_sign_now() -> None:
    headers = sign_webhook(SECRET, "m", BODY)
    assert abs(int(headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 60
    verify_webhook([SECRET], BODY, headers)


def test_header_names_are_matched_whatever_their_case() -> None:
    headers = {k.upper(): v for k, v in sign_webhook(SECRET, "m", BODY).items()}
    verify_webhook([SECRET], BODY, headers | {"X-Other": "ignored"})


def test_four_minutes_old_is_fresh_six_is_stale() -> None:
    now = datetime.now(UTC)
    verify_webhook([SECRET], BODY, sign_webhook(SECRET, "m", BODY, at=now - timedelta(minutes=4)))
    verify_webhook([SECRET], BODY, sign_webhook(SECRET, "m", BODY, at=now + timedelta(minutes=4)))
    with pytest.raises(SignatureInvalid):
        verify_webhook(
            [SECRET], BODY, sign_webhook(SECRET, "m", BODY, at=now + timedelta(minutes=6))
        )


def test_a_signature_for_another_id_is_invalid() -> None:
    headers = sign_webhook(SECRET, "m1", BODY) | {"webhook-id": "m2"}
    with pytest.raises(
        SignatureInvalid, match=r"^webhook signature missing, expired or not matching$"
    ):
        verify_webhook([SECRET], BODY, headers)


def test_no_secret_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match=r"^verify_webhook needs at least one secret$"):
        verify_webhook([], BODY, sign_webhook(SECRET, "m", BODY))


def test_malformed_wins_over_invalid_and_names_the_error_only() -> None:
    headers = sign_webhook(SECRET, "m", BODY) | {"webhook-signature": "v1,a,b"}
    with pytest.raises(SignatureMalformed) as malformed:
        verify_webhook([OTHER, SECRET], BODY, headers)
    assert re.fullmatch(r"malformed webhook signature headers \((\w+Error)\)", str(malformed.value))
    assert "v1,a,b" not in str(malformed.value)


def test_a_malformed_secret_after_a_good_one_still_accepts() -> None:
    verify_webhook([SECRET, "whsec_!!notbase64"], BODY, sign_webhook(SECRET, "m", BODY))


def test_a_body_that_is_not_json_still_verifies() -> None:
    body = b"plain text, not JSON"
    verify_webhook([SECRET], body, sign_webhook(SECRET, "m", body))
