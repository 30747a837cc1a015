"""Helpdesk webhooks: `POST /webhooks/<connector>`, verified by the helpdesk's own signature.

No API key here: the signature (or shared secret) is the authentication, and a connector with
no secret configured answers 401 to everything. A new ticket goes through the same intake as
POST /tickets (source and connector = the connector's name, idempotency key = the helpdesk's
ticket id), so a redelivery, or a second delivery of the same ticket, is 200 with one ticket.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel

from ingest_api.context import api_context
from ingest_api.errors import ApiError
from ingest_api.openapi import documented
from ingest_api.presenters import ticket_links
from ingest_api.schemas import Links
from ingest_api.sources import checked_source, connector_source, takes_tickets
from pipeline.connectors import Connector, ConnectorError, Ignored, InboundTicket
from pipeline.domain.changes import IdempotencyConflict
from pipeline.domain.models import TicketRecord, payload_fingerprint
from pipeline.telemetry.metrics import TICKETS_ACCEPTED, TICKETS_DUPLICATE
from workers.chains import enqueue_after_commit

log = logging.getLogger("triage.webhooks")

webhooks = Blueprint("webhooks", __name__)


class WebhookOutcome(BaseModel):
    """A webhook taken: the ticket (202 new, 200 repeat), or `ignored` with the reason (200)."""

    id: str | None = None
    status: str | None = None
    links: Links | None = None
    ignored: str | None = None


@webhooks.post("/webhooks/<connector>")
@documented(
    "Take a helpdesk's webhook (zendesk, freshdesk, jira, github, intercom, email): "
    "signed by the helpdesk, no API key",
    {202: WebhookOutcome, 200: WebhookOutcome},
    errors=(400, 401, 404, 413, 415, 422),
)
@takes_tickets(connector_source)
def receive_webhook(connector: str) -> tuple[Response, int] | tuple[Response, int, dict[str, str]]:
    """Verify (ingest_api.sources), map and store one helpdesk event; 202 new, 200 repeat."""
    check = checked_source()
    spec = check.connector
    assert spec is not None  # connector_source always names the helpdesk
    settings = api_context().settings
    try:
        event = spec.parse(dict(request.headers), check.raw)
    except ConnectorError as error:
        raise ApiError(error.status, error.code, str(error), {"connector": spec.name}) from None
    if isinstance(event, InboundTicket) and _is_our_bot(event, settings.webhook_ignore_senders):
        event = Ignored(f"sent by {event.sender}, one of our own accounts")
    if isinstance(event, Ignored):
        log.info("webhook ignored", extra={"connector": spec.name, "reason": event.reason})
        return jsonify(WebhookOutcome(ignored=event.reason).model_dump(exclude_none=True)), 200
    return _store(spec, event)


def _is_our_bot(event: InboundTicket, senders: str) -> bool:
    ours = {s.strip().lower() for s in senders.split(",") if s.strip()}
    return event.sender is not None and event.sender.lower() in ours


def _fingerprint(event: InboundTicket) -> str:
    """The mapped ticket's fingerprint, without the delivery id (which differs per delivery)."""
    body: dict[str, Any] = event.submission.model_dump(mode="json")
    helpdesk = body.get("helpdesk")
    if isinstance(helpdesk, dict):
        body["helpdesk"] = {k: v for k, v in helpdesk.items() if k != "delivery_id"}
    return payload_fingerprint(body)


def _store(spec: Connector, event: InboundTicket) -> tuple[Response, int, dict[str, str]]:
    context = api_context()
    submission = event.submission
    try:
        acceptance = context.intake.accept(
            submission,
            source=spec.name,
            idempotency_key=submission.external_id,
            payload_hash=_fingerprint(event),
            connector=spec.name,
        )
    except IdempotencyConflict as conflict:
        # The same helpdesk ticket sent again with other content (an edit before redelivery):
        # still that one ticket; a 409 would only make the helpdesk retry.
        return _answer(context.store.get(conflict.ticket_id), 200)
    ticket = acceptance.ticket
    if not acceptance.created:
        TICKETS_DUPLICATE.inc()
        return _answer(ticket, 200)
    TICKETS_ACCEPTED.labels(ticket.source).inc()
    enqueue_after_commit(context.celery, ticket.id)
    log.info(
        "webhook ticket accepted",
        extra={"connector": spec.name, "ticket_id": ticket.id, "delivery_id": event.delivery_id},
    )
    return _answer(ticket, 202)


def _answer(ticket: TicketRecord, status: int) -> tuple[Response, int, dict[str, str]]:
    links = ticket_links(ticket.id)
    view = WebhookOutcome(id=ticket.id, status=ticket.status, links=links)
    return (
        jsonify(view.model_dump(mode="json", exclude_none=True)),
        status,
        {"Location": links.self},
    )
