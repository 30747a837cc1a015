"""What every helpdesk connector shares: its errors, its outcomes and signature helpers."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from pipeline.domain.errors import TriageError
from pipeline.domain.models import Priority, TicketSubmission


class ConnectorError(TriageError):
    """A webhook we cannot take; `status` is the HTTP answer, `code` the error code."""

    status = 400
    code = "invalid_webhook"


class SignatureError(ConnectorError):
    """The request is not proven to come from the helpdesk (401)."""

    status = 401
    code = "invalid_signature"


class NoSecret(SignatureError):
    """No secret is configured for this connector: nothing unsigned is ever taken."""

    code = "webhook_not_configured"


class SignatureMissing(SignatureError):
    """The helpdesk's signature header is absent."""

    code = "missing_signature"


class SignatureMismatch(SignatureError):
    """The signature does not match any configured secret."""


class SignatureExpired(SignatureError):
    """The signed timestamp is outside the replay window (or unreadable)."""

    code = "expired_signature"


class MalformedPayload(ConnectorError):
    """The body is not what the helpdesk sends: not JSON, not an e-mail (400)."""

    code = "malformed_webhook"


class Unmappable(ConnectorError):
    """The body parses but lacks what a ticket needs (422)."""

    status = 422
    code = "unmappable_webhook"


@dataclass(frozen=True)
class InboundTicket:
    """A new helpdesk ticket, mapped: the submission, who sent it, and the delivery id."""

    submission: TicketSubmission
    delivery_id: str | None = None
    sender: str | None = None
    fetch: bool = False  # only the id came: the classify stage fetches the rest


@dataclass(frozen=True)
class Ignored:
    """An event that is not a new ticket (an update, a comment, a ping, our own write-back)."""

    reason: str


InboundEvent = InboundTicket | Ignored
# The default replay window of signed timestamps (TRIAGE_WEBHOOK_REPLAY_WINDOW_S overrides).
REPLAY_WINDOW = timedelta(minutes=5)
# verify(headers, body, secrets, now, window): raises a SignatureError unless authentic.
Verifier = Callable[[Mapping[str, str], bytes, Sequence[str], datetime, timedelta], None]
Parser = Callable[[Mapping[str, str], bytes], InboundEvent]


@dataclass(frozen=True)
class Connector:
    """One helpdesk's inbound side: how it signs, how its payloads map, what it posts."""

    name: str
    verify: Verifier
    parse: Parser
    content_types: tuple[str, ...] = ("application/json",)
    docs: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers keyed by lower-case name (HTTP header names are case-insensitive)."""
    return {name.lower(): value for name, value in headers.items()}


def require_secrets(secrets: Sequence[str]) -> list[str]:
    """The non-empty secrets, or NoSecret."""
    usable = [s for s in secrets if s]
    if not usable:
        raise NoSecret("no webhook secret is configured for this connector")
    return usable


def hmac_hex(secret: str, message: bytes, digest: str = "sha256") -> str:
    """Hex HMAC of a message."""
    return hmac.new(secret.encode(), message, digest).hexdigest()


def hmac_base64(secret: str, message: bytes) -> str:
    """Base64 HMAC-SHA256 of a message."""
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def matches_any(given: str, expected: Callable[[str], str], secrets: Sequence[str]) -> None:
    """Raise SignatureMismatch unless `given` equals `expected(secret)` for some secret."""
    given_bytes = given.strip().encode()
    # Every secret is tried (no early exit), each compared in constant time.
    ok = False
    for secret in require_secrets(secrets):
        ok |= hmac.compare_digest(given_bytes, expected(secret).encode())
    if not ok:
        raise SignatureMismatch("the webhook signature does not match")


def verify_hub_signature(
    headers: Mapping[str, str], body: bytes, secrets: Sequence[str], header: str, digest: str
) -> None:
    """`<header>: <digest>=<hex HMAC(secret, body)>` (GitHub, Jira, Intercom)."""
    require_secrets(secrets)
    given = lower_headers(headers).get(header.lower())
    if not given:
        raise SignatureMissing(f"the {header} header is missing")
    matches_any(given, lambda s: f"{digest}={hmac_hex(s, body, digest)}", secrets)


def verify_shared_secret(headers: Mapping[str, str], secrets: Sequence[str], header: str) -> None:
    """A shared secret sent as a header, compared in constant time (Freshdesk, e-mail)."""
    require_secrets(secrets)
    given = lower_headers(headers).get(header.lower())
    if not given:
        raise SignatureMissing(f"the {header} header is missing")
    matches_any(given, lambda s: s, secrets)


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or MalformedPayload."""
    import json

    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedPayload(f"body is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise MalformedPayload("body must be a JSON object")
    return value


def dig(value: Any, *path: str) -> Any:
    """value[path[0]][path[1]]..., or None where a step is missing or not an object."""
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def text_or_none(value: Any) -> str | None:
    """A non-blank string form of a scalar, else None."""
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


PRIORITY_WORDS = {
    "lowest": Priority.low,
    "low": Priority.low,
    "minor": Priority.low,
    "normal": Priority.normal,
    "medium": Priority.normal,
    "major": Priority.high,
    "high": Priority.high,
    "highest": Priority.urgent,
    "urgent": Priority.urgent,
    "critical": Priority.urgent,
    "blocker": Priority.urgent,
}


def priority_of(value: Any) -> Priority:
    """A helpdesk's priority name as ours (unknown or blank: normal)."""
    word = (text_or_none(value) or "").lower()
    return PRIORITY_WORDS.get(word, Priority.normal)


def submission(
    *,
    subject: str | None,
    description: str | None,
    customer: str | None,
    priority: Priority,
    external_id: str,
    created_at: Any = None,
    metadata: dict[str, Any],
) -> TicketSubmission:
    """A TicketSubmission from mapped fields, or Unmappable naming what is missing."""
    subject = (subject or "").strip()
    description = (description or "").strip() or subject
    missing = [name for name, v in (("subject", subject), ("customer", customer)) if not v]
    if missing:
        raise Unmappable(f"the event has no {' and no '.join(missing)}")
    fields: dict[str, Any] = {
        "subject": subject[:1000],
        "description": description[:100_000],
        "customer_id": str(customer)[:128],
        "priority": priority,
        "external_id": external_id[:255],
        **metadata,
    }
    stamp = _timestamp(created_at)
    if stamp is not None:
        fields["created_at"] = stamp
    try:
        return TicketSubmission.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        )
        raise Unmappable(f"the event does not map to a ticket ({problems})") from None


def _timestamp(value: Any) -> datetime | None:
    """An ISO 8601 time, epoch seconds, or None: a bad creation time never rejects a ticket."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    text = text_or_none(value)
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" UTC", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59-23:59: past datetime's range in UTC
        return None


def obj(value: Any) -> dict[str, Any]:
    """The value if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}
