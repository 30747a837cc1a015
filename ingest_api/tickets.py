"""Ticket routes: ingest, read, audit trail, re-run a stage, list."""

from __future__ import annotations

import json
from datetime import datetime

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, Field

from ingest_api.auth import current_key, requires
from ingest_api.bodies import parse_json, read_json_body, read_raw_body, validate_body
from ingest_api.context import api_context
from ingest_api.errors import ApiError
from ingest_api.openapi import documented
from ingest_api.presenters import acceptance_view, audit_view, ticket_view
from ingest_api.schemas import AcceptedTicket, AuditLog, RerunAccepted, TicketPage, TicketView
from ingest_api.signing import verify_source_signature
from pipeline.domain.changes import IdempotencyConflict
from pipeline.domain.lifecycle import Stage, TicketStatus
from pipeline.domain.models import TicketSubmission, payload_fingerprint
from pipeline.domain.operator import Role
from pipeline.operations.corrections import UnknownCategory, correct_category
from pipeline.operations.replay import TicketBusy, reopen_ticket
from pipeline.telemetry.metrics import TICKETS_ACCEPTED, TICKETS_DUPLICATE
from workers.chains import enqueue_after_commit

tickets = Blueprint("tickets", __name__)

MAX_KEY_LENGTH = 255


def idempotency_key(submission: TicketSubmission) -> str | None:
    """`Idempotency-Key`, else the Standard Webhooks `webhook-id`, else the body's external_id."""
    key = (
        request.headers.get("Idempotency-Key")
        or request.headers.get("webhook-id")
        or submission.external_id
    )
    if key is not None and not 0 < len(key) <= MAX_KEY_LENGTH:
        raise ApiError(
            422,
            "invalid_idempotency_key",
            f"idempotency key must be 1 to {MAX_KEY_LENGTH} characters",
            None,
        )
    return key


@tickets.post("/tickets")
@documented(
    "Accept a ticket (stored, then queued)",
    {202: AcceptedTicket, 200: AcceptedTicket},
    request=TicketSubmission,
    errors=(409,),
)
@requires(Role.producer)
def create_ticket() -> tuple[Response, int, dict[str, str]]:
    """Accept a ticket: store it as received, then publish its chain; 202 (200 on a repeat)."""
    context = api_context()
    raw = read_raw_body(context.settings.max_ticket_bytes)
    verify_source_signature(raw)
    body = parse_json(raw)
    submission = validate_body(TicketSubmission, body)
    metadata_size = len(json.dumps(submission.metadata(), separators=(",", ":")).encode())
    if metadata_size > context.settings.max_metadata_bytes:
        raise ApiError(
            422,
            "metadata_too_large",
            f"extra fields take {metadata_size} bytes; at most "
            f"{context.settings.max_metadata_bytes} are kept",
            {"max_bytes": context.settings.max_metadata_bytes},
        )
    try:
        acceptance = context.intake.accept(
            submission,
            source=current_key().source,
            idempotency_key=idempotency_key(submission),
            payload_hash=payload_fingerprint(body),
        )
    except IdempotencyConflict as conflict:
        raise ApiError(
            409,
            "idempotency_conflict",
            "this idempotency key was already used with a different body",
            {"ticket_id": conflict.ticket_id},
        ) from None
    ticket = acceptance.ticket
    view = acceptance_view(ticket)
    headers = {"Location": view.links.self}
    if not acceptance.created:
        TICKETS_DUPLICATE.inc()
        return jsonify(view.model_dump(mode="json")), 200, headers
    TICKETS_ACCEPTED.labels(ticket.source).inc()
    enqueue_after_commit(context.celery, ticket.id)
    return jsonify(view.model_dump(mode="json")), 202, headers


@tickets.get("/tickets/<ticket_id>")
@documented("Read a ticket", {200: TicketView})
@requires(Role.reader)
def get_ticket(ticket_id: str) -> Response:
    """One ticket with its state, classification and department."""
    return jsonify(ticket_view(api_context().store.get(ticket_id)).model_dump(mode="json"))


@tickets.get("/tickets/<ticket_id>/logs")
@documented("Read a ticket's audit trail, oldest first", {200: AuditLog})
@requires(Role.reader)
def get_ticket_logs(ticket_id: str) -> Response:
    """The ticket's audit events, oldest first."""
    events = api_context().store.audit_trail(ticket_id)
    log = AuditLog(ticket_id=ticket_id, events=[audit_view(e) for e in events])
    return jsonify(log.model_dump(mode="json"))


@tickets.post("/tickets/<ticket_id>/classify")
@documented("Classify a finished ticket again", {202: RerunAccepted}, errors=(409,))
@requires(Role.admin)
def rerun_classify(ticket_id: str) -> tuple[Response, int]:
    """Classify a finished ticket again (a new delivery generation)."""
    return _rerun(ticket_id, Stage.classify)


@tickets.post("/tickets/<ticket_id>/route")
@documented("Route a finished ticket again", {202: RerunAccepted}, errors=(409,))
@requires(Role.admin)
def rerun_route(ticket_id: str) -> tuple[Response, int]:
    """Route a finished ticket again (a new delivery generation)."""
    return _rerun(ticket_id, Stage.route)


@tickets.post("/tickets/<ticket_id>/replay")
@documented(
    "Replay a failed ticket from the stage that failed", {202: RerunAccepted}, errors=(409,)
)
@requires(Role.reviewer)
def replay_ticket(ticket_id: str) -> tuple[Response, int]:
    """Resume a finished ticket where it failed (a new delivery generation)."""
    return _rerun(ticket_id, None)


class CategoryCorrection(BaseModel):
    """A person's verdict on a ticket's category."""

    category: str = Field(min_length=1, max_length=64)


class CorrectionResult(BaseModel):
    """What the correction changed; `rerouted` tickets go to their new department."""

    id: str
    previous_category: str | None
    category: str
    department: str
    rerouted: bool


@tickets.post("/tickets/<ticket_id>/category")
@documented(
    "Correct a ticket's category (a training label; re-routes if the department changes)",
    {200: CorrectionResult},
    request=CategoryCorrection,
    errors=(409,),
)
@requires(Role.reviewer)
def correct_ticket_category(ticket_id: str) -> Response:
    """Record a person's category; enqueue the route stage when the department changes."""
    context = api_context()
    body = validate_body(CategoryCorrection, read_json_body(64 * 1024))
    routing = context.routing
    try:
        correction = correct_category(
            context.store, routing, ticket_id, body.category, actor=f"key:{current_key().name}"
        )
    except UnknownCategory as error:
        raise ApiError(
            422, "unknown_category", str(error), {"categories": sorted(routing.categories)}
        ) from None
    except TicketBusy as busy:
        raise ApiError(409, "ticket_in_progress", str(busy)) from None
    if correction.rerouted:
        enqueue_after_commit(context.celery, ticket_id, start=Stage.route)
    result = CorrectionResult(
        id=ticket_id,
        previous_category=correction.previous_category,
        category=correction.category,
        department=correction.department,
        rerouted=correction.rerouted,
    )
    return jsonify(result.model_dump())


@tickets.get("/tickets")
@documented(
    "List tickets by status and update time",
    {200: TicketPage},
    errors=(422,),
    query={
        "status": "only tickets in this status",
        "since": "only tickets updated at or after this ISO 8601 time",
        "cursor": "next_cursor of the previous page",
        "limit": "page size, 1..500 (default 100)",
    },
)
@requires(Role.reader)
def list_tickets() -> Response:
    """Tickets by status and update time, paginated by an opaque cursor (the last id seen)."""
    status = request.args.get("status")
    if status is not None and status not in TicketStatus.__members__:
        raise ApiError(422, "validation_failed", "unknown status", [{"field": "status"}])
    since = _parse_since(request.args.get("since"))
    limit = request.args.get("limit", default=100, type=int) or 100
    if not 1 <= limit <= 500:
        raise ApiError(422, "validation_failed", "limit must be 1..500", [{"field": "limit"}])
    page = api_context().store.list_tickets(
        status=status, since=since, after_id=request.args.get("cursor"), limit=limit
    )
    next_cursor = page[-1].id if len(page) == limit else None
    body = TicketPage(tickets=[ticket_view(t) for t in page], next_cursor=next_cursor)
    return jsonify(body.model_dump(mode="json"))


def _rerun(ticket_id: str, stage: Stage | None) -> tuple[Response, int]:
    context = api_context()
    try:
        start = reopen_ticket(context.store, ticket_id, stage, actor=f"key:{current_key().name}")
    except TicketBusy as busy:
        raise ApiError(409, "ticket_in_progress", str(busy)) from None
    ticket = context.store.get(ticket_id)
    enqueue_after_commit(context.celery, ticket_id, start=start)
    view = RerunAccepted(**acceptance_view(ticket).model_dump(), stage=start.value)
    return jsonify(view.model_dump(mode="json")), 202


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(
            422, "validation_failed", "since must be an ISO 8601 time", [{"field": "since"}]
        ) from None
    if parsed.tzinfo is None:
        raise ApiError(422, "validation_failed", "since needs a timezone", [{"field": "since"}])
    return parsed
