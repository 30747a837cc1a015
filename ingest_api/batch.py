"""POST /tickets/batch: up to 500 historical tickets a call, stored in one bulk transaction."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from ingest_api.auth import requires
from ingest_api.bodies import (
    BodyRejected,
    InvalidValue,
    first_problem,
    loads_lenient,
    validate_body,
)
from ingest_api.context import api_context
from ingest_api.errors import ApiError
from ingest_api.openapi import documented
from ingest_api.sources import api_key_source, checked_source, takes_tickets
from pipeline.backfill.batch_intake import ItemOutcome, accept_batch
from pipeline.domain.operator import Role
from pipeline.telemetry.metrics import TICKETS_ACCEPTED, TICKETS_DUPLICATE
from workers.chains import enqueue_groups_after_commit

batch = Blueprint("batch", __name__)

MAX_BATCH = 500
MAX_BATCH_BYTES = 16 * 1024 * 1024


class BatchSubmission(BaseModel):
    """Historical tickets: any JSON objects, each checked alone as a POST /tickets body.

    An item that is not a valid TicketSubmission (plus an optional category) does not fail
    the batch: it comes back `rejected` with the reason.
    """

    tickets: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description="TicketSubmission objects; an invalid one is `rejected` in the results",
    )
    deliver: StrictBool = Field(default=False, description="also deliver to departments")

    model_config = ConfigDict(extra="forbid")


class BatchItem(BaseModel):
    """What happened to one ticket of the batch."""

    index: int
    status: str = Field(
        description="accepted, duplicate (same body as the stored ticket `id`), conflict "
        "(external_id stored with another body: nothing stored, `id` is the stored ticket) "
        "or rejected (`error` says why)"
    )
    id: str | None = None
    error: str | None = None


class BatchResult(BaseModel):
    """Counts and per-ticket outcomes, in input order."""

    accepted: int
    duplicates: int
    conflicts: int
    rejected: int
    results: list[BatchItem]


@batch.post("/tickets/batch")
@documented("Accept up to 500 historical tickets", {202: BatchResult}, request=BatchSubmission)
@requires(Role.producer)
@takes_tickets(api_key_source(lambda _settings: MAX_BATCH_BYTES))
def create_batch() -> tuple[Response, int]:
    """Store valid tickets in one transaction (duplicates skipped), then queue them."""
    context = api_context()
    check = checked_source()
    try:
        body = loads_lenient(check.raw)
    except BodyRejected as error:
        raise ApiError(
            400, "invalid_json", "body is not valid JSON", {"reason": str(error)}
        ) from None
    if isinstance(body, dict):
        outer = first_problem({k: v for k, v in body.items() if k != "tickets"}) or (
            "duplicate key in an object" if isinstance(body.get("tickets"), InvalidValue) else None
        )
        if outer is not None:
            raise ApiError(400, "invalid_json", "body is not valid JSON", {"reason": outer})
    submission = validate_body(BatchSubmission, body)
    # An item the API cannot accept (NaN, 1e400, a duplicate key...) is rejected alone.
    outcomes: list[ItemOutcome] = []
    clean: list[tuple[int, dict[str, Any]]] = []
    for index, item in enumerate(submission.tickets):
        problem = first_problem(item, depth=2)
        if problem is None:
            clean.append((index, item))
        else:
            outcomes.append(ItemOutcome(index, "rejected", error=problem))
    stored = accept_batch(
        context.store,
        [item for _, item in clean],
        source=check.source,
        deliver=submission.deliver,
        max_metadata_bytes=context.settings.max_metadata_bytes,
    )
    outcomes += [ItemOutcome(clean[o.index][0], o.status, o.ticket_id, o.error) for o in stored]
    outcomes.sort(key=lambda outcome: outcome.index)
    accepted = [o.ticket_id for o in outcomes if o.status == "accepted" and o.ticket_id]
    enqueue_groups_after_commit(
        context.celery, accepted, group_size=context.settings.llm_group_size
    )
    duplicates = sum(o.status == "duplicate" for o in outcomes)
    TICKETS_ACCEPTED.labels(check.source).inc(len(accepted))
    TICKETS_DUPLICATE.inc(duplicates)
    result = BatchResult(
        accepted=len(accepted),
        duplicates=duplicates,
        conflicts=sum(o.status == "conflict" for o in outcomes),
        rejected=sum(o.status == "rejected" for o in outcomes),
        results=[
            BatchItem(index=o.index, status=o.status, id=o.ticket_id, error=o.error)
            for o in outcomes
        ],
    )
    return jsonify(result.model_dump()), 202
