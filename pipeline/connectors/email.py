"""E-mail: a raw RFC 822 message (`Content-Type: message/rfc822`), as inbound mail hooks post it.

Mail services' inbound routes (e.g. https://docs.cloudmailin.com/http_post_formats/raw/ or
Mailgun's `message-mime`) are not signed the same way, so we take a shared secret: header
`X-Triage-Webhook-Secret`, or HTTP basic auth with the secret as password (a URL such as
`https://triage:SECRET@host/webhooks/email`). Parsed with the standard library's
`email` package (policy.default, https://docs.python.org/3/library/email.policy.html):
text/plain preferred, else HTML converted; the quoted thread and the "-- " signature trimmed;
From → customer, Message-ID → external id and delivery id. Replies (In-Reply-To), auto-replies
(RFC 3834 `Auto-Submitted`) and bulk mail are ignored, so a helpdesk's or our own
notifications never open tickets.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.errors import MessageError
from email.message import EmailMessage
from email.utils import parseaddr, parsedate_to_datetime
from typing import Any

from pipeline.connectors.base import (
    REPLAY_WINDOW,
    Ignored,
    InboundEvent,
    InboundTicket,
    MalformedPayload,
    SignatureMismatch,
    SignatureMissing,
    Unmappable,
    lower_headers,
    priority_of,
    require_secrets,
    submission,
    verify_shared_secret,
)
from pipeline.connectors.text import html_to_text, trim_email_reply

NAME = "email"
SECRET_HEADER = "X-Triage-Webhook-Secret"


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str],
    now: datetime,
    window: timedelta = REPLAY_WINDOW,
) -> None:
    """The shared secret as a header, or as the basic-auth password."""
    usable = require_secrets(secrets)
    lowered = lower_headers(headers)
    if SECRET_HEADER.lower() in lowered:
        verify_shared_secret(headers, usable, SECRET_HEADER)
        return
    authorization = lowered.get("authorization", "")
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise SignatureMissing(f"send the secret in {SECRET_HEADER} or as basic-auth password")
    try:
        _, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise SignatureMismatch("the basic-auth credentials are unreadable") from None
    ok = False
    for secret in usable:
        ok |= hmac.compare_digest(password.encode(), secret.encode())
    if not ok:
        raise SignatureMismatch("the basic-auth password does not match")


def parse(headers: Mapping[str, str], body: bytes) -> InboundEvent:
    """A new message as a ticket; replies, auto-replies and bulk mail are Ignored."""
    message = _message(body)
    auto = _header(message, "Auto-Submitted", "no").strip().lower()
    if auto != "no":
        return Ignored(f"auto-submitted mail ({auto})")
    precedence = _header(message, "Precedence", "").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return Ignored(f"precedence {precedence} mail")
    if _header(message, "X-Autoreply") or _header(message, "X-Autorespond"):
        return Ignored("auto-reply")
    if _header(message, "In-Reply-To"):
        return Ignored("a reply to an earlier message")
    message_id = _header(message, "Message-ID", "").strip()
    if not message_id:
        raise Unmappable("the message has no Message-ID")
    _, sender = parseaddr(_header(message, "From", ""))
    if not sender:
        raise Unmappable("the message has no From address")
    subject = _header(message, "Subject", "").strip() or "(no subject)"
    helpdesk: dict[str, Any] = {
        "connector": NAME,
        "id": message_id,
        "from": _header(message, "From", ""),
        "to": _header(message, "To", ""),
    }
    mapped = submission(
        subject=subject,
        description=_text(message),
        customer=sender.lower(),
        priority=_priority(message),
        external_id=message_id,
        created_at=_date(message),
        metadata={"helpdesk": helpdesk},
    )
    return InboundTicket(mapped, delivery_id=message_id, sender=sender.lower())


def _message(body: bytes) -> EmailMessage:
    if not body.strip():
        raise MalformedPayload("the body is empty, not an RFC 822 message")
    try:
        message = message_from_bytes(body, policy=policy.default)
    except (MessageError, ValueError, UnicodeError) as exc:
        raise MalformedPayload(f"the body is not an RFC 822 message ({exc})") from None
    if not isinstance(message, EmailMessage) or not message.keys():
        raise MalformedPayload("the body has no message headers")
    if message.defects and not _header(message, "From"):
        raise MalformedPayload("the body is not an RFC 822 message")
    return message


def _text(message: EmailMessage) -> str:
    """text/plain preferred, else HTML as text; quoted thread and signature trimmed."""
    try:
        part = message.get_body(preferencelist=("plain", "html"))
        subtype = part.get_content_subtype() if part is not None else ""
    except (IndexError, ValueError, TypeError, AttributeError, LookupError):
        return ""  # a Content-Type the stdlib cannot parse: no readable body
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError, UnicodeError, IndexError, TypeError, AttributeError):
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    if subtype == "html":
        content = html_to_text(content)
    return trim_email_reply(content)


def _priority(message: EmailMessage) -> Any:
    x_priority = _header(message, "X-Priority", "").strip()[:1]
    importance = _header(message, "Importance", "").strip().lower()
    if x_priority == "1":
        return priority_of("urgent")
    if x_priority == "2" or importance == "high":
        return priority_of("high")
    if x_priority in ("4", "5") or importance == "low":
        return priority_of("low")
    return priority_of(None)


def _date(message: EmailMessage) -> datetime | None:
    try:
        return parsedate_to_datetime(_header(message, "Date", ""))
    except (TypeError, ValueError, IndexError):
        return None


def _header(message: EmailMessage, name: str, default: str = "") -> str:
    """A header's value as text; the raw value when the stdlib's parser chokes on it."""
    try:
        value = message.get(name)
    except (IndexError, ValueError, TypeError, AttributeError, LookupError):
        # policy.default parses on access and some malformed values raise (e.g. Message-ID).
        raw = next((v for k, v in message.raw_items() if k.lower() == name.lower()), None)
        return default if raw is None else str(raw).strip()
    return default if value is None else str(value)
