"""POST /tickets/batch: up to 500 historical tickets a call, stored in one bulk transaction."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, Field

from ingest_api.auth import current_key, requires
from ingest_api.bodies import read_json_body, validate_body
from ingest_api.context import api_context
from ingest_api.openapi import documented
from pipeline.backfill.batch_intake import accept_batch
from pipeline.domain.operator import Role
from pipeline.telemetry.metrics import TICKETS_ACCEPTED, TICKETS_DUPLICATE
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
    outcomes = accept_batch(
        context.store,
        submission.tickets,
        source=source,
        deliver=submission.deliver,
        max_metadata_bytes=context.settings.max_metadata_bytes,
    )
    accepted = [o.ticket_id for o in outcomes if o.status == "accepted" and o.ticket_id]
    enqueue_groups_after_commit(
        context.celery, accepted, group_size=context.settings.llm_group_size
    )
    duplicates = sum(o.status == "duplicate" for o in outcomes)
    TICKETS_ACCEPTED.labels(source).inc(len(accepted))
    TICKETS_DUPLICATE.inc(duplicates)
    body = BatchResult(
        accepted=len(accepted),
        duplicates=duplicates,
        rejected=sum(o.status == "rejected" for o in outcomes),
        results=[
            BatchItem(index=o.index, status=o.status, id=o.ticket_id, error=o.error)
            for o in outcomes
        ],
    )
    return jsonify(body.model_dump()), 202
