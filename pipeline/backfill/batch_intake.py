"""Accepting a batch of historical tickets: validate each, store the new ones in one go."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.backfill.loader import ticket_row
from pipeline.domain.lifecycle import Queue
from pipeline.store.intake import store_new_tickets
from pipeline.store.tickets import TicketStore


@dataclass(frozen=True)
class ItemOutcome:
    """What happened to one ticket of a batch."""

    index: int
    status: str  # accepted, duplicate or rejected
    ticket_id: str | None = None
    error: str | None = None


def accept_batch(
    store: TicketStore,
    items: list[dict[str, Any]],
    *,
    source: str,
    deliver: bool,
    max_metadata_bytes: int,
) -> list[ItemOutcome]:
    """Validate every item; insert the new ones and their audit events in one transaction.

    Duplicates (same source and external id, or same content) come back with the stored id.
    """
    outcomes: list[ItemOutcome] = []
    prepared: list[tuple[int, dict[str, Any]]] = []
    for index, fields in enumerate(items):
        try:
            row = ticket_row(
                fields,
                source=source,
                job_id=None,
                deliver=deliver,
                queue=Queue.backfill,
                max_metadata_bytes=max_metadata_bytes,
            )
        except ValueError as error:
            outcomes.append(ItemOutcome(index, "rejected", error=str(error)))
            continue
        prepared.append((index, row))
    detail = {"source": source, "queue": Queue.backfill.value, "batch": True}
    with store.transaction() as session:
        stored = store_new_tickets(session, [row for _, row in prepared], [detail] * len(prepared))
    for index, row in prepared:
        if row["id"] in stored.new_ids:
            outcomes.append(ItemOutcome(index, "accepted", ticket_id=row["id"]))
        else:
            earlier = stored.earlier(row)
            outcomes.append(
                ItemOutcome(index, "duplicate", ticket_id=earlier[0] if earlier else None)
            )
    return sorted(outcomes, key=lambda outcome: outcome.index)
