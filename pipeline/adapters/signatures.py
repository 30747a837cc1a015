"""Standard Webhooks signatures: verify what producers send, sign what departments receive."""

from __future__ import annotations

import binascii
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from pipeline.domain.errors import TriageError


class SignatureInvalid(TriageError):
    """The signature headers are missing, stale, or match none of the source's secrets."""


class SignatureMalformed(TriageError):
    """The signature headers cannot even be parsed."""


# What standardwebhooks raises, unwrapped, on malformed input (found by fuzzing, see DESIGN.md).
_MALFORMED = (ValueError, binascii.Error, UnicodeDecodeError, TypeError, OverflowError)


def verify_webhook(secrets: Sequence[str], body: bytes, headers: Mapping[str, str]) -> None:
    """Accept the body if any secret (rotation: old and new) signed it within ±5 minutes."""
    if not secrets:
        raise ValueError("verify_webhook needs at least one secret")
    wanted = {k.lower(): v for k, v in headers.items() if k.lower().startswith("webhook-")}
    malformed: Exception | None = None
    for secret in secrets:  # one verifier holds one secret, so rotation loops
        try:
            Webhook(secret).verify(body, wanted, json_parse=False)
            return
        except WebhookVerificationError:
            continue
        except _MALFORMED as error:
            malformed = error
    if malformed is not None:
        raise SignatureMalformed(
            f"malformed webhook signature headers ({type(malformed).__name__})"
        )
    raise SignatureInvalid("webhook signature missing, expired or not matching")


def sign_webhook(
    secret: str, msg_id: str, body: bytes, *, at: datetime | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for an outbound body."""
    timestamp = at or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, timestamp, body.decode("utf-8"))
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }
