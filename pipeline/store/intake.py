"""Storing new tickets: rows built from submissions, many inserted in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from pipeline.domain.changes import Acceptance, IdempotencyConflict
from pipeline.domain.errors import TriageError
from pipeline.domain.lifecycle import Queue, Stage, TicketStatus
from pipeline.domain.models import TicketRecord, TicketSubmission
from pipeline.store.bulk import insert_audit_events, insert_new_tickets
from pipeline.store.schema import TicketRow, utcnow

# TicketRecord fields a new ticket has not filled yet.
_UNSET_FIELDS = (
    "category",
    "urgency",
    "language",
    "confidence",
    "urgency_confidence",
    "sentiment",
    "sentiment_confidence",
    "reason",
    "classifier",
    "model",
    "review_reason",
    "department",
    "failed_stage",
    "last_error",
    "next_attempt_at",
    "retrying_since",
    "finished_at",
)


def new_ticket_row(
    submission: TicketSubmission,
    *,
    source: str,
    idempotency_key: str | None,
    payload_hash: str,
    queue: Queue,
    now: datetime,
    deliver: bool = True,
    job_id: str | None = None,
    connector: str | None = None,
) -> dict[str, Any]:
    """The column values of a ticket just received (keys are the mapped attribute names)."""
    return {
        "id": str(uuid.uuid4()),
        "source": source,
        "idempotency_key": idempotency_key,
        "external_id": submission.external_id,
        "payload_hash": payload_hash,
        "queue": queue.value,
        "subject": submission.subject,
        "description": submission.description,
        "customer_id": submission.customer_id,
        "priority": submission.priority.value,
        "extra": submission.metadata(),
        "known_category": submission.category,
        "created_at": submission.created_at,
        "received_at": now,
        "status": TicketStatus.received.value,
        "generation": 1,
        "attempts": 0,
        "stage_runs": 0,
        "updated_at": now,
        "deliver": deliver,
        "job_id": job_id,
        "connector": connector,
    }


def received_ticket(
    submission: TicketSubmission,
    *,
    source: str,
    idempotency_key: str | None,
    payload_hash: str,
    queue: Queue,
    connector: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A ticket received now from an API producer: its row and its `received` audit detail."""
    row = new_ticket_row(
        submission,
        source=source,
        idempotency_key=idempotency_key,
        payload_hash=payload_hash,
        queue=queue,
        now=utcnow(),
        connector=connector,
    )
    detail = {"source": source, "queue": queue.value}
    if connector is not None:
        detail["connector"] = connector
    return row, detail


def received_event(row: dict[str, Any], detail: dict[str, Any]) -> dict[str, Any]:
    """The `received` audit event of a new ticket row."""
    return {
        "ticket_id": row["id"],
        "stage": Stage.ingest.value,
        "event": "received",
        "detail": detail,
        "attempt": 0,
        "created_at": row["received_at"],
    }


def record_from_row(row: dict[str, Any]) -> TicketRecord:
    """The snapshot of a row we just inserted, without reading it back."""
    fields = {name: row[name] for name in TicketRecord.model_fields if name in row}
    fields.update({name: None for name in _UNSET_FIELDS})
    return TicketRecord.model_construct(**fields)


@dataclass(frozen=True)
class StoredBatch:
    """What inserting a batch did: the new ids, and the stored (id, fingerprint) of the rest."""

    new_ids: set[str]
    existing: dict[tuple[str, str | None], tuple[str, str]]

    def earlier(self, row: dict[str, Any]) -> tuple[str, str] | None:
        """The (id, payload fingerprint) stored before under this row's key, if it was a repeat."""
        return self.existing.get((row["source"], row["idempotency_key"]))


def store_new_tickets(
    session: Session, rows: list[dict[str, Any]], details: list[dict[str, Any]]
) -> StoredBatch:
    """Insert the rows whose key is new with their `received` events; look up the others.

    Runs in the caller's transaction. `details[i]` is the audit detail of `rows[i]`.
    """
    new_ids = insert_new_tickets(session, rows)
    insert_audit_events(
        session,
        [
            received_event(row, detail)
            for row, detail in zip(rows, details, strict=True)
            if row["id"] in new_ids
        ],
    )
    keys = [(row["source"], row["idempotency_key"]) for row in rows if row["id"] not in new_ids]
    existing: dict[tuple[str, str | None], tuple[str, str]] = {}
    if keys:
        found = session.execute(
            select(
                TicketRow.source, TicketRow.idempotency_key, TicketRow.id, TicketRow.payload_hash
            ).where(tuple_(TicketRow.source, TicketRow.idempotency_key).in_(keys))
        )
        existing = {
            (src, key): (ticket_id, fingerprint) for src, key, ticket_id, fingerprint in found
        }
    return StoredBatch(new_ids, existing)


def acceptance_of(
    row: dict[str, Any], stored: StoredBatch, load: Callable[[str], TicketRecord]
) -> Acceptance:
    """A row's outcome: new, a repeat of the same body (the earlier ticket), or a conflict."""
    if row["id"] in stored.new_ids:
        return Acceptance(record_from_row(row), created=True)
    earlier = stored.earlier(row)
    if earlier is None:  # only a keyed row can collide; anything else is a store bug
        raise TriageError(f"ticket {row['id']} was neither stored nor found")
    ticket_id, fingerprint = earlier
    if fingerprint != row["payload_hash"]:
        raise IdempotencyConflict(ticket_id)
    return Acceptance(load(ticket_id), created=False)
