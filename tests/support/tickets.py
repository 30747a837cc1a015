"""Setting up ticket states for tests, through the stores' own test hook (no SQL here)."""

from __future__ import annotations

from typing import Any

from pipeline.domain.lifecycle import TicketStatus
from pipeline.store.memory import InMemoryTicketRepository
from pipeline.store.tickets import TicketStore

AnyStore = TicketStore | InMemoryTicketRepository


def force(store: AnyStore, ticket_id: str, **fields: Any) -> None:
    """Overwrite ticket fields as they are, bypassing the lifecycle (the state to test from)."""
    store.overwrite_for_tests(ticket_id, **fields)


def force_status(store: AnyStore, ticket_id: str, status: TicketStatus, **fields: Any) -> None:
    """Put a ticket in `status` (with any other fields) as if the pipeline had got it there."""
    force(store, ticket_id, status=status.value, **fields)
