"""Standard Webhooks: our signing and verification, rotation, and malformed headers."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from pipeline.adapters.signatures import (
    SignatureInvalid,
    SignatureMalformed,
    sign_webhook,
    verify_webhook,
)

OLD = "whsec_" + base64.b64encode(b"old-secret-0123456789abcdef").decode()
NEW = "whsec_" + base64.b64encode(b"new-secret-0123456789abcdef").decode()
BODY = b'{"subject":"s"}'


def test_our_signature_verifies_with_the_reference_library() -> None:
    headers = sign_webhook(NEW, "msg_1", BODY)
    Webhook(NEW).verify(BODY, headers)  # raises if wrong


def test_rotation_accepts_either_secret() -> None:
    verify_webhook([NEW, OLD], BODY, sign_webhook(OLD, "m", BODY))
    verify_webhook([NEW, OLD], BODY, sign_webhook(NEW, "m", BODY))
    with pytest.raises(SignatureInvalid):
        verify_webhook([NEW], BODY, sign_webhook(OLD, "m", BODY))


def test_several_signatures_in_one_header() -> None:
    new = sign_webhook(NEW, "m", BODY)
    old = sign_webhook(OLD, "m", BODY)
    both = {**new, "webhook-signature": f"{old['webhook-signature']} {new['webhook-signature']}"}
    verify_webhook([NEW], BODY, both)


def test_stale_or_tampered_is_invalid() -> None:
    stale = sign_webhook(NEW, "m", BODY, at=datetime.now(UTC) - timedelta(minutes=6))
    with pytest.raises(SignatureInvalid):
        verify_webhook([NEW], BODY, stale)
    with pytest.raises(SignatureInvalid):
        verify_webhook([NEW], BODY + b" ", sign_webhook(NEW, "m", BODY))
    with pytest.raises(SignatureInvalid):
        verify_webhook([NEW], BODY, {})


@pytest.mark.parametrize(
    ("signature", "body"),
    [
        ("v1", BODY),  # no comma
        ("v1,!!!notbase64", BODY),
        ("v1,a,b", BODY),
        ("v1,AAAA", b"\xff\xfe"),  # body not UTF-8
    ],
)
def test_malformed_headers_are_malformed_not_crashes(signature: str, body: bytes) -> None:
    headers = sign_webhook(NEW, "m", BODY) | {"webhook-signature": signature}
    with pytest.raises(SignatureMalformed):
        verify_webhook([NEW], body, headers)
