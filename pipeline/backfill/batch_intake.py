"""Accepting a batch of historical tickets: validate each, store the new ones in one go."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, tuple_

from pipeline.backfill.loader import ticket_row
from pipeline.lifecycle import Queue, Stage
from pipeline.store.bulk import insert_audit_events, insert_new_tickets
from pipeline.store.schema import TicketRow, utcnow
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
    with store.transaction() as session:
        new_ids = insert_new_tickets(session, [row for _, row in prepared])
        now = utcnow()
        insert_audit_events(
            session,
            [
                {
                    "ticket_id": row["id"],
                    "stage": Stage.ingest.value,
                    "event": "received",
                    "detail": {"source": source, "queue": Queue.backfill.value, "batch": True},
                    "attempt": 0,
                    "created_at": now,
                }
                for _, row in prepared
                if row["id"] in new_ids
            ],
        )
        keys = [
            (row["source"], row["idempotency_key"])
            for _, row in prepared
            if row["id"] not in new_ids
        ]
        existing: dict[str | None, str] = {}
        if keys:
            existing = {
                key: ticket_id
                for key, ticket_id in session.execute(
                    select(TicketRow.idempotency_key, TicketRow.id).where(
                        tuple_(TicketRow.source, TicketRow.idempotency_key).in_(keys)
                    )
                ).all()
            }
    for index, row in prepared:
        if row["id"] in new_ids:
            outcomes.append(ItemOutcome(index, "accepted", ticket_id=row["id"]))
        else:
            outcomes.append(
                ItemOutcome(index, "duplicate", ticket_id=existing.get(row["idempotency_key"]))
            )
    return sorted(outcomes, key=lambda outcome: outcome.index)
