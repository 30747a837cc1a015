"""Accepting a batch of historical tickets: validate each, store the new ones in one go."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.backfill.loader import new_ticket
from pipeline.domain.lifecycle import Queue
from pipeline.domain.operator import NewTicket
from pipeline.ports import OperatorStores


@dataclass(frozen=True)
class ItemOutcome:
    """What happened to one ticket of a batch."""

    index: int
    status: str  # accepted, duplicate, conflict (key known, other body: nothing stored) or rejected
    ticket_id: str | None = None
    error: str | None = None


def accept_batch(
    store: OperatorStores,
    items: list[dict[str, Any]],
    *,
    source: str,
    deliver: bool,
    max_metadata_bytes: int,
) -> list[ItemOutcome]:
    """Validate every item; insert the new ones and their audit events in one transaction.

    Duplicates (same source and external id, or same content) come back with the stored id;
    a known external id with a different body is a `conflict` (the stored ticket's id).
    """
    outcomes: list[ItemOutcome] = []
    prepared: list[tuple[int, NewTicket]] = []
    for index, fields in enumerate(items):
        try:
            ticket = new_ticket(
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
        prepared.append((index, ticket))
    detail = {"source": source, "queue": Queue.backfill.value, "batch": True}
    stored = store.backfill.store_tickets([ticket for _, ticket in prepared], detail)
    conflicts = stored.conflicts or [False] * len(prepared)
    for (index, _), ticket_id, created, conflict in zip(
        prepared, stored.ticket_ids, stored.created, conflicts, strict=True
    ):
        if conflict:
            reason = "this external_id was already stored with a different body"
            outcomes.append(ItemOutcome(index, "conflict", ticket_id=ticket_id, error=reason))
            continue
        status = "accepted" if created else "duplicate"
        outcomes.append(ItemOutcome(index, status, ticket_id=ticket_id))
    return sorted(outcomes, key=lambda outcome: outcome.index)
