"""Zendesk: trigger webhooks with our JSON template, and `zen:event-type:ticket.*` events.

Signature (https://developer.zendesk.com/documentation/webhooks/verifying/):
`X-Zendesk-Webhook-Signature` = base64(HMAC-SHA256(secret, timestamp + body)), the timestamp
in `X-Zendesk-Webhook-Signature-Timestamp` (ISO 8601); we refuse one outside the replay window.
Ticket event payloads (https://developer.zendesk.com/api-reference/webhooks/event-types/
ticket-events/) may carry only the ticket's id: such a ticket is stored with a `fetch` marker.
The trigger template is in the README ("Helpdesk connectors" → Zendesk).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.connectors.base import (
    REPLAY_WINDOW,
    Ignored,
    InboundEvent,
    InboundTicket,
    SignatureExpired,
    SignatureMissing,
    Unmappable,
    dig,
    hmac_base64,
    lower_headers,
    matches_any,
    obj,
    parse_json_object,
    priority_of,
    require_secrets,
    submission,
    text_or_none,
)
from pipeline.connectors.text import html_to_text

NAME = "zendesk"
SIGNATURE = "x-zendesk-webhook-signature"
TIMESTAMP = "x-zendesk-webhook-signature-timestamp"
INVOCATION = "x-zendesk-webhook-invocation-id"
CREATED_EVENT = "zen:event-type:ticket.created"


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str],
    now: datetime,
    window: timedelta = REPLAY_WINDOW,
) -> None:
    """Check the signature over timestamp + body and that the timestamp is recent."""
    require_secrets(secrets)
    lowered = lower_headers(headers)
    given, stamp = lowered.get(SIGNATURE), lowered.get(TIMESTAMP)
    if not given or not stamp:
        raise SignatureMissing(
            "the X-Zendesk-Webhook-Signature and -Timestamp headers are required"
        )
    try:
        signed_at = datetime.fromisoformat(stamp.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SignatureExpired("the signature timestamp is not an ISO 8601 time") from None
    if signed_at.tzinfo is None:
        signed_at = signed_at.replace(tzinfo=UTC)
    if abs(now - signed_at) > window:
        raise SignatureExpired("the signature timestamp is outside the replay window")
    message = stamp.encode() + body
    matches_any(given, lambda secret: hmac_base64(secret, message), secrets)


def parse(headers: Mapping[str, str], body: bytes) -> InboundEvent:
    """Our trigger template (`{"ticket": {...}}`) or a ticket event, as a ticket or Ignored."""
    payload = parse_json_object(body)
    delivery = lower_headers(headers).get(INVOCATION)
    if isinstance(payload.get("ticket"), dict):
        return _from_template(payload, delivery)
    kind = text_or_none(payload.get("type"))
    if kind is None:
        raise Unmappable('neither a "ticket" object (trigger template) nor an event "type"')
    if kind != CREATED_EVENT:
        return Ignored(f"zendesk event {kind} is not a new ticket")
    return _from_event(payload, delivery or text_or_none(payload.get("id")))


def _from_template(payload: dict[str, Any], delivery: str | None) -> InboundEvent:
    ticket = payload["ticket"]
    event = (text_or_none(payload.get("event")) or "created").lower()
    if event not in ("created", "ticket.created", "ticket_created"):
        return Ignored(f"zendesk trigger event {event!r} is not a new ticket")
    ticket_id = text_or_none(ticket.get("id"))
    if ticket_id is None:
        raise Unmappable("ticket.id is missing")
    requester = obj(ticket.get("requester"))
    customer = (
        text_or_none(ticket.get("requester_email"))
        or text_or_none(requester.get("email"))
        or text_or_none(ticket.get("requester_id"))
        or text_or_none(requester.get("id"))
    )
    description = text_or_none(ticket.get("description")) or ""
    mapped = submission(
        subject=text_or_none(ticket.get("subject")) or text_or_none(ticket.get("title")),
        description=html_to_text(description),
        customer=customer,
        priority=priority_of(ticket.get("priority")),
        external_id=ticket_id,
        created_at=ticket.get("created_at"),
        metadata={"helpdesk": _helpdesk(ticket_id, ticket, delivery, skip=_MAPPED)},
    )
    return InboundTicket(mapped, delivery_id=delivery, sender=customer)


_MAPPED = {"id", "subject", "title", "description", "priority", "created_at", "requester"}


def _from_event(payload: dict[str, Any], delivery: str | None) -> InboundEvent:
    detail = obj(payload.get("detail"))
    subject_ref = text_or_none(payload.get("subject")) or ""
    ticket_id = text_or_none(detail.get("id")) or subject_ref.removeprefix("zen:ticket:") or None
    if ticket_id is None:
        raise Unmappable("the event names no ticket id")
    subject = text_or_none(detail.get("subject"))
    description = text_or_none(detail.get("description"))
    customer = text_or_none(detail.get("requester_id")) or text_or_none(detail.get("actor_id"))
    fetch = subject is None or description is None or customer is None
    metadata = _helpdesk(ticket_id, detail, delivery, skip=_MAPPED | {"requester_id"})
    metadata["event"] = CREATED_EVENT
    if fetch:
        # Only the id came: placeholders now, the real text is fetched in the classify stage.
        metadata["fetch"] = NAME
    mapped = submission(
        subject=subject or f"Zendesk ticket {ticket_id}",
        description=html_to_text(description or "") or f"Zendesk ticket {ticket_id}",
        customer=customer or f"zendesk:{ticket_id}",
        priority=priority_of(detail.get("priority")),
        external_id=ticket_id,
        created_at=detail.get("created_at") or payload.get("time"),
        metadata={"helpdesk": metadata},
    )
    actor = text_or_none(detail.get("actor_id")) or text_or_none(dig(payload, "event", "actor"))
    return InboundTicket(mapped, delivery_id=delivery, sender=actor, fetch=fetch)


def _helpdesk(
    ticket_id: str, source: dict[str, Any], delivery: str | None, *, skip: set[str]
) -> dict[str, Any]:
    """What we keep of the helpdesk's ticket beside the mapped fields (for write-back too)."""
    kept = {k: v for k, v in source.items() if k not in skip and v not in (None, "", [])}
    return {"connector": NAME, "id": ticket_id, "delivery_id": delivery, **kept}


def from_export(record: dict[str, Any]) -> InboundEvent:
    """One ticket of Zendesk's incremental ticket export (`GET /api/v2/incremental/tickets`).

    https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/
    """
    if text_or_none(record.get("status")) == "deleted":
        return Ignored("a deleted ticket")
    ticket = dict(record)
    ticket.setdefault("requester_email", obj(record.get("requester")).get("email"))
    return _from_template({"ticket": ticket}, None)
