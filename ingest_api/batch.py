"""POST /tickets/batch: up to 500 historical tickets a call, stored in one bulk transaction."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, Field
from sqlalchemy import select, tuple_

from ingest_api.auth import current_key, requires
from ingest_api.bodies import read_json_body, validate_body
from ingest_api.context import api_context
from ingest_api.openapi import documented
from pipeline.api_keys import Role
from pipeline.backfill.loader import ticket_row
from pipeline.lifecycle import Queue, Stage
from pipeline.metrics import TICKETS_ACCEPTED, TICKETS_DUPLICATE
from pipeline.store.bulk import insert_audit_events, insert_new_tickets
from pipeline.store.schema import TicketRow, utcnow
from workers.chains import enqueue_groups_after_commit

batch = Blueprint("batch", __name__)

MAX_BATCH = 500
MAX_BATCH_BYTES = 16 * 1024 * 1024


class BatchSubmission(BaseModel):
    """Historical tickets, each shaped like a POST /tickets body (plus an optional category)."""

    tickets: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH)
    deliver: bool = Field(default=False, description="also deliver to departments")


class BatchItem(BaseModel):
    """What happened to one ticket of the batch."""

    index: int
    status: str = Field(description="accepted, duplicate or rejected")
    id: str | None = None
    error: str | None = None


class BatchResult(BaseModel):
    """Counts and per-ticket outcomes, in input order."""

    accepted: int
    duplicates: int
    rejected: int
    results: list[BatchItem]


@batch.post("/tickets/batch")
@documented("Accept up to 500 historical tickets", {202: BatchResult}, request=BatchSubmission)
@requires(Role.producer)
def create_batch() -> tuple[Response, int]:
    """Store valid tickets in one transaction (duplicates skipped), then queue them."""
    context = api_context()
    submission = validate_body(BatchSubmission, read_json_body(MAX_BATCH_BYTES))
    source = current_key().source
    results: list[BatchItem] = []
    prepared: list[tuple[int, dict[str, Any]]] = []
    for index, fields in enumerate(submission.tickets):
        try:
            row = ticket_row(
                fields,
                source=source,
                job_id=None,
                deliver=submission.deliver,
                queue=Queue.backfill,
                max_metadata_bytes=context.settings.max_metadata_bytes,
            )
        except ValueError as error:
            results.append(BatchItem(index=index, status="rejected", error=str(error)))
            continue
        prepared.append((index, row))
    with context.store.transaction() as session:
        new_ids = insert_new_tickets(session, [row for _, row in prepared])
        insert_audit_events(
            session,
            [
                {
                    "ticket_id": row["id"],
                    "stage": Stage.ingest.value,
                    "event": "received",
                    "detail": {"source": source, "queue": Queue.backfill.value, "batch": True},
                    "attempt": 0,
                    "created_at": utcnow(),
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
        existing = (
            dict(
                session.execute(
                    select(TicketRow.idempotency_key, TicketRow.id).where(
                        tuple_(TicketRow.source, TicketRow.idempotency_key).in_(keys)
                    )
                ).all()
            )
            if keys
            else {}
        )
    accepted_ids = [row["id"] for _, row in prepared if row["id"] in new_ids]
    enqueue_groups_after_commit(
        context.celery, accepted_ids, group_size=context.settings.llm_group_size
    )
    for index, row in prepared:
        if row["id"] in new_ids:
            results.append(BatchItem(index=index, status="accepted", id=row["id"]))
        else:
            results.append(
                BatchItem(index=index, status="duplicate", id=existing.get(row["idempotency_key"]))
            )
    results.sort(key=lambda item: item.index)
    TICKETS_ACCEPTED.labels(source).inc(len(new_ids))
    TICKETS_DUPLICATE.inc(len(prepared) - len(new_ids))
    body = BatchResult(
        accepted=len(new_ids),
        duplicates=len(prepared) - len(new_ids),
        rejected=len(submission.tickets) - len(prepared),
        results=results,
    )
    return jsonify(body.model_dump()), 202
