"""Completing a ticket whose webhook carried only the helpdesk's id, before it is classified."""

from __future__ import annotations

import logging
from typing import Any

from pipeline.domain.models import TicketRecord
from pipeline.ports import FetchedTicket, TicketFetcher, TicketRepository

log = logging.getLogger("triage.stages")


def fetch_marker(ticket: TicketRecord) -> str | None:
    """The connector to fetch the ticket from, when the webhook gave only its id."""
    helpdesk = ticket.extra.get("helpdesk")
    marker = helpdesk.get("fetch") if isinstance(helpdesk, dict) else None
    return marker if isinstance(marker, str) else None


def complete_from_helpdesk(
    store: TicketRepository,
    fetcher: TicketFetcher | None,
    ticket: TicketRecord,
    *,
    attempt: int,
) -> TicketRecord:
    """The ticket with its real text fetched from the helpdesk (itself when nothing to fetch)."""
    connector = fetch_marker(ticket)
    if connector is None or ticket.external_id is None:
        return ticket
    if fetcher is None:
        # No credentials: classified on what the webhook gave (the id), as reported at start.
        log.warning("ticket %s needs a %s fetch; no fetcher is configured", ticket.id, connector)
        return ticket
    fetched = fetcher.fetch(connector, ticket.external_id)  # errors: the stage's retry policy
    helpdesk: dict[str, Any] = dict(ticket.extra.get("helpdesk") or {})
    helpdesk.pop("fetch", None)
    extra = {**ticket.extra, "helpdesk": {**helpdesk, **fetched.extra, "fetched": connector}}
    complete = FetchedTicket(
        subject=fetched.subject,
        description=fetched.description,
        customer_id=fetched.customer_id,
        priority=fetched.priority,
        extra=extra,
    )
    store.fill_fetched(ticket.id, complete, attempt=attempt)
    return store.get(ticket.id)
