"""How tickets and audit events look in API answers (ISO 8601 UTC timestamps)."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from flask import request

from ingest_api.schemas import AcceptedTicket, AuditEventView, Links, TicketView
from pipeline.domain.models import AuditEntry, TicketRecord


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z`, or None."""
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ticket_links(ticket_id: str) -> Links:
    """Where to read the ticket and its trail."""
    # Formatted, not url_for: two url_for calls were ~5% of an ingest request's CPU. The
    # paths are the GET routes in ingest_api/tickets.py (a test checks they resolve).
    base = f"{request.script_root}/tickets/{quote(ticket_id, safe='')}"
    return Links(self=base, logs=f"{base}/logs")


def acceptance_view(ticket: TicketRecord) -> AcceptedTicket:
    """The answer to an accepted (or repeated) ticket."""
    return AcceptedTicket(id=ticket.id, status=ticket.status, links=ticket_links(ticket.id))


def ticket_view(ticket: TicketRecord) -> TicketView:
    """A ticket with its state, nested classification and department."""
    return TicketView(
        id=ticket.id,
        source=ticket.source,
        external_id=ticket.external_id,
        status=ticket.status,
        subject=ticket.subject,
        description=ticket.description,
        customer_id=ticket.customer_id,
        priority=ticket.priority,
        metadata=ticket.extra,
        queue=ticket.queue,
        classification=ticket.classification(),
        department=ticket.department,
        review_reason=ticket.review_reason,
        generation=ticket.generation,
        attempts=ticket.attempts,
        failed_stage=ticket.failed_stage,
        last_error=ticket.last_error,
        created_at=iso(ticket.created_at),
        received_at=iso(ticket.received_at) or "",
        updated_at=iso(ticket.updated_at) or "",
        finished_at=iso(ticket.finished_at),
        links=ticket_links(ticket.id),
    )


def audit_view(entry: AuditEntry) -> AuditEventView:
    """One audit event."""
    return AuditEventView(
        id=entry.id,
        stage=entry.stage,
        event=entry.event,
        attempt=entry.attempt,
        detail=entry.detail,
        created_at=iso(entry.created_at) or "",
    )
