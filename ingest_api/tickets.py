"""Ticket routes: ingest, read, audit trail, re-run a stage, list."""

from __future__ import annotations

import json

from flask import Blueprint, Response, jsonify
from flask.blueprints import BlueprintSetupState
from pydantic import BaseModel, ConfigDict, Field
from werkzeug.routing import BaseConverter

from ingest_api.auth import current_key, requires
from ingest_api.bodies import parse_json, read_json_body, validate_body
from ingest_api.context import api_context
from ingest_api.errors import ApiError
from ingest_api.inputs import LIST_QUERY, list_cursor, list_limit, list_since, list_status
from ingest_api.openapi import documented
from ingest_api.presenters import acceptance_view, audit_view, ticket_view
from ingest_api.schemas import AcceptedTicket, AuditLog, RerunAccepted, TicketPage, TicketView
from ingest_api.sources import (
    IDENTITY_HEADERS,
    api_key_source,
    checked_source,
    header_key,
    takes_no_tickets,
    takes_tickets,
)
from pipeline.domain.changes import IdempotencyConflict
from pipeline.domain.lifecycle import Stage
from pipeline.domain.models import TicketSubmission, identity_key, payload_fingerprint
from pipeline.domain.operator import Role
from pipeline.operations.corrections import UnknownCategory, correct_category
from pipeline.operations.replay import TicketBusy, reopen_ticket
from pipeline.telemetry.metrics import TICKETS_ACCEPTED, TICKETS_DUPLICATE
from workers.chains import enqueue_after_commit

tickets = Blueprint("tickets", __name__)


class TicketIdConverter(BaseConverter):
    """A ticket id in a path: one segment, never `batch` (that is POST /tickets/batch)."""

    regex = r"(?!batch$)[^/]+"


@tickets.record_once
def _register_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters["ticket"] = TicketIdConverter


@tickets.post("/tickets")
@documented(
    "Accept a ticket (stored, then queued)",
    {202: AcceptedTicket, 200: AcceptedTicket},
    request=TicketSubmission,
    errors=(409,),
    headers=IDENTITY_HEADERS,
)
@requires(Role.producer)
@takes_tickets(api_key_source(lambda settings: settings.max_ticket_bytes))
def create_ticket() -> tuple[Response, int, dict[str, str]]:
    """Accept a ticket: store it as received, then publish its chain; 202 (200 on a repeat)."""
    context = api_context()
    check = checked_source()
    body = parse_json(check.raw)
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
    key = identity_key(
        external_id=submission.external_id,
        signed_id=check.signed_id,
        header_key=None if check.signed_id else header_key(),
    )
    try:
        acceptance = context.intake.accept(
            submission,
            source=check.source,
            idempotency_key=key,
            payload_hash=payload_fingerprint(body),
        )
    except IdempotencyConflict as conflict:
        raise ApiError(
            409,
            "idempotency_conflict",
            "this ticket's identity (external_id, signed webhook-id or Idempotency-Key) was "
            "already used with a different body",
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


@tickets.get("/tickets/<ticket:ticket_id>")
@documented("Read a ticket", {200: TicketView})
@requires(Role.reader)
def get_ticket(ticket_id: str) -> Response:
    """One ticket with its state, classification and department."""
    return jsonify(ticket_view(api_context().store.get(ticket_id)).model_dump(mode="json"))


@tickets.get("/tickets/<ticket:ticket_id>/logs")
@documented("Read a ticket's audit trail, oldest first", {200: AuditLog})
@requires(Role.reader)
def get_ticket_logs(ticket_id: str) -> Response:
    """The ticket's audit events, oldest first."""
    events = api_context().store.audit_trail(ticket_id)
    log = AuditLog(ticket_id=ticket_id, events=[audit_view(e) for e in events])
    return jsonify(log.model_dump(mode="json"))


@tickets.post("/tickets/<ticket:ticket_id>/classify")
@documented("Classify a finished ticket again", {202: RerunAccepted}, errors=(409,))
@requires(Role.admin)
@takes_no_tickets
def rerun_classify(ticket_id: str) -> tuple[Response, int]:
    """Classify a finished ticket again (a new delivery generation)."""
    return _rerun(ticket_id, Stage.classify)


@tickets.post("/tickets/<ticket:ticket_id>/route")
@documented("Route a finished ticket again", {202: RerunAccepted}, errors=(409,))
@requires(Role.admin)
@takes_no_tickets
def rerun_route(ticket_id: str) -> tuple[Response, int]:
    """Route a finished ticket again (a new delivery generation)."""
    return _rerun(ticket_id, Stage.route)


@tickets.post("/tickets/<ticket:ticket_id>/replay")
@documented(
    "Replay a failed ticket from the stage that failed", {202: RerunAccepted}, errors=(409,)
)
@requires(Role.reviewer)
@takes_no_tickets
def replay_ticket(ticket_id: str) -> tuple[Response, int]:
    """Resume a finished ticket where it failed (a new delivery generation)."""
    return _rerun(ticket_id, None)


class CategoryCorrection(BaseModel):
    """A person's verdict on a ticket's category."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(min_length=1, max_length=64)


class CorrectionResult(BaseModel):
    """What the correction changed; `rerouted` tickets go to their new department."""

    id: str
    previous_category: str | None
    category: str
    department: str
    rerouted: bool


@tickets.post("/tickets/<ticket:ticket_id>/category")
@documented(
    "Correct a ticket's category (a training label; re-routes if the department changes)",
    {200: CorrectionResult},
    request=CategoryCorrection,
    errors=(409,),
)
@requires(Role.reviewer)
@takes_no_tickets
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
    "List tickets by status and update time", {200: TicketPage}, errors=(422,), query=LIST_QUERY
)
@requires(Role.reader)
def list_tickets() -> Response:
    """Tickets by status and update time, paginated by an opaque cursor (the last id seen)."""
    limit = list_limit()
    page = api_context().store.list_tickets(
        status=list_status(), since=list_since(), after_id=list_cursor(), limit=limit
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
