"""What console buttons do: the same operations, and the same enqueueing, as the JSON API."""

from __future__ import annotations

from dataclasses import dataclass

from ingest_api.console.base import current_actor
from ingest_api.context import api_context
from pipeline.domain.errors import TicketNotFound
from pipeline.domain.lifecycle import Stage
from pipeline.operations.corrections import UnknownCategory, correct_category
from pipeline.operations.replay import TicketBusy, reopen_ticket
from workers.chains import enqueue_after_commit


@dataclass(frozen=True)
class Outcome:
    """One ticket's result, for a flash message or the script's JSON."""

    ticket_id: str
    ok: bool
    message: str
    rerouted: bool = False


def decide(ticket_id: str, category: str) -> Outcome:
    """Confirm or correct a category exactly as `POST /tickets/{id}/category` does."""
    context = api_context()
    try:
        correction = correct_category(
            context.store, context.routing, ticket_id, category, actor=current_actor()
        )
    except (UnknownCategory, TicketBusy, TicketNotFound) as error:
        return Outcome(ticket_id, False, str(error))
    if correction.rerouted:
        enqueue_after_commit(context.celery, ticket_id, start=Stage.route)
    verb = "confirmed" if correction.previous_category == category else "corrected to"
    return Outcome(
        ticket_id,
        True,
        f"{verb} {category} → {correction.department}",
        correction.rerouted,
    )


def rerun(ticket_id: str, stage: Stage | None) -> Outcome:
    """Re-classify, re-route or replay (stage None: where it failed) and enqueue it."""
    context = api_context()
    try:
        start = reopen_ticket(context.store, ticket_id, stage, actor=current_actor())
    except (TicketBusy, TicketNotFound) as error:
        return Outcome(ticket_id, False, str(error))
    enqueue_after_commit(context.celery, ticket_id, start=start)
    return Outcome(ticket_id, True, f"queued again from {start.value}")
