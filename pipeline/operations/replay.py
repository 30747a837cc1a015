"""Replaying tickets: reopen one (or every match) where it failed, ready to enqueue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from pipeline.domain.errors import TriageError
from pipeline.domain.lifecycle import FINAL_STATUSES, STAGE_INPUT_STATUS, Queue, Stage, TicketStatus
from pipeline.store.schema import TicketRow
from pipeline.store.tickets import TicketStore, append_audit


class TicketBusy(TriageError):
    """The ticket is still moving through the pipeline; it cannot be re-run now."""


@dataclass(frozen=True)
class Reopened:
    """A ticket put back in the pipeline, and where it resumes."""

    ticket_id: str
    stage: Stage
    queue: Queue


def reopen_matching(
    store: TicketStore,
    *,
    status: TicketStatus,
    since: datetime | None = None,
    category: str | None = None,
    actor: str,
    limit: int = 100_000,
) -> list[Reopened]:
    """Reopen every ticket in `status` (updated since, of category); one transaction each."""
    query = select(TicketRow.id, TicketRow.queue).where(TicketRow.status == status.value)
    if since is not None:
        query = query.where(TicketRow.updated_at >= since)
    if category is not None:
        query = query.where(TicketRow.category == category)
    with store.read() as session:
        candidates = list(session.execute(query.order_by(TicketRow.updated_at).limit(limit)))
    reopened: list[Reopened] = []
    for ticket_id, queue in candidates:
        try:
            stage = reopen_ticket(store, ticket_id, None, actor=actor)
        except TicketBusy:
            continue  # moved on since we listed it: somebody else replayed it
        reopened.append(Reopened(ticket_id, stage, Queue(queue)))
    return reopened


def reopen_ticket(store: TicketStore, ticket_id: str, stage: Stage | None, *, actor: str) -> Stage:
    """Put a finished ticket back before `stage` (default: where it failed); returns that stage.

    Re-running classify or route opens a new delivery generation, so the department accepts
    the new delivery while still dropping redeliveries of the old one.
    """
    ticket = store.get(ticket_id)
    if TicketStatus(ticket.status) not in FINAL_STATUSES:
        raise TicketBusy(f"ticket {ticket_id} is {ticket.status}; wait until it is final")
    if stage is None:
        stage = Stage(ticket.failed_stage) if ticket.failed_stage else Stage.classify
    values: dict[str, object] = {
        "status": STAGE_INPUT_STATUS[stage].value,
        "failed_stage": None,
        "last_error": None,
        "finished_at": None,
        "next_attempt_at": None,
        "stage_runs": 0,
    }
    if stage in (Stage.classify, Stage.route):
        values["generation"] = ticket.generation + 1
    if stage is Stage.classify:
        values["review_reason"] = None  # a route re-run keeps a classify-time fallback reason
    with store.transaction() as session:
        moved = store.move(session, ticket_id, expected=TicketStatus(ticket.status), values=values)
        if not moved:
            raise TicketBusy(f"ticket {ticket_id} changed while reopening; try again")
        append_audit(
            session,
            ticket_id,
            stage,
            "reopened",
            {
                "from_status": ticket.status,
                "by": actor,
                "generation": values.get("generation", ticket.generation),
            },
        )
    return stage
