"""Freshdesk: an automation rule ("Ticket creation") that triggers a webhook to us.

Freshdesk's webhooks (https://support.freshdesk.com/support/solutions/articles/
132589-using-webhooks-in-automation-rules) are not signed: the rule sends our shared secret in
a custom header, `X-Triage-Webhook-Secret`, compared in constant time, and the JSON body is
the template documented in the README (placeholders such as `{{ticket.id}}`,
`{{ticket.subject}}`, `{{ticket.description}}` (HTML), `{{ticket.priority}}`,
`{{ticket.requester.email}}`). A body whose `event` is not `ticket_created` is ignored, so a
rule on ticket updates (our own write-back included) never makes a ticket.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pipeline.connectors.base import (
    REPLAY_WINDOW,
    Ignored,
    InboundEvent,
    InboundTicket,
    Unmappable,
    parse_json_object,
    priority_of,
    submission,
    text_or_none,
    verify_shared_secret,
)
from pipeline.connectors.text import html_to_text

NAME = "freshdesk"
SECRET_HEADER = "X-Triage-Webhook-Secret"
# Freshdesk's numeric priorities (API v2): 1 low, 2 medium, 3 high, 4 urgent.
_NUMERIC = {"1": "low", "2": "medium", "3": "high", "4": "urgent"}
_MAPPED = {"id", "subject", "description", "description_text", "priority", "created_at"}


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str],
    now: datetime,
    window: timedelta = REPLAY_WINDOW,
) -> None:
    """Check the shared secret header."""
    verify_shared_secret(headers, secrets, SECRET_HEADER)


def parse(headers: Mapping[str, str], body: bytes) -> InboundEvent:
    """Our template (`{"event": "ticket_created", "ticket": {...}}`) as a ticket."""
    payload = parse_json_object(body)
    ticket = payload.get("ticket") or payload.get("freshdesk_webhook")
    if not isinstance(ticket, dict):
        raise Unmappable('the body has no "ticket" object (see the README template)')
    event = (text_or_none(payload.get("event")) or "ticket_created").lower()
    if event != "ticket_created":
        return Ignored(f"freshdesk event {event!r} is not a new ticket")
    return from_record(ticket)


def from_record(ticket: Mapping[str, Any]) -> InboundTicket:
    """A Freshdesk ticket (the template's object, or an export row renamed to it)."""
    ticket_id = text_or_none(ticket.get("id")) or text_or_none(ticket.get("ticket_id"))
    if ticket_id is None:
        raise Unmappable("ticket.id is missing")
    raw_priority = text_or_none(ticket.get("priority")) or ""
    description = text_or_none(ticket.get("description")) or text_or_none(
        ticket.get("description_text")
    )
    customer = text_or_none(ticket.get("requester_email")) or text_or_none(
        ticket.get("requester_id")
    )
    kept = {k: v for k, v in ticket.items() if k not in _MAPPED and v not in (None, "", [])}
    mapped = submission(
        subject=text_or_none(ticket.get("subject")),
        description=html_to_text(description or ""),
        customer=customer,
        priority=priority_of(_NUMERIC.get(raw_priority, raw_priority)),
        external_id=ticket_id,
        created_at=ticket.get("created_at"),
        metadata={"helpdesk": {"connector": NAME, "id": ticket_id, **kept}},
    )
    return InboundTicket(mapped, sender=customer)


# Freshdesk's ticket CSV export (Tickets → Export) column names, as our template's keys.
EXPORT_COLUMNS = {
    "Ticket ID": "id",
    "Subject": "subject",
    "Description": "description",
    "Priority": "priority",
    "Status": "status",
    "Source": "source",
    "Type": "type",
    "Group": "group",
    "Agent": "agent",
    "Tags": "tags",
    "Created time": "created_at",
    "Full name": "requester_name",
    "Email": "requester_email",
    "Requester email": "requester_email",
    "Contact ID": "requester_id",
}


def from_export(record: Mapping[str, Any]) -> InboundEvent:
    """One row of Freshdesk's ticket CSV export."""
    ticket = {EXPORT_COLUMNS.get(column, column): value for column, value in record.items()}
    return from_record(ticket)
