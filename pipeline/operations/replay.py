"""Replaying tickets: reopen one (or every match) where it failed, ready to enqueue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pipeline.domain.changes import Reopening
from pipeline.domain.errors import TriageError
from pipeline.domain.lifecycle import FINAL_STATUSES, Queue, Stage, TicketStatus
from pipeline.ports import TicketRepository


class TicketBusy(TriageError):
    """The ticket is still moving through the pipeline; it cannot be re-run now."""


@dataclass(frozen=True)
class Reopened:
    """A ticket put back in the pipeline, and where it resumes."""

    ticket_id: str
    stage: Stage
    queue: Queue


def reopen_matching(
    store: TicketRepository,
    *,
    status: TicketStatus,
    since: datetime | None = None,
    category: str | None = None,
    actor: str,
    limit: int = 100_000,
) -> list[Reopened]:
    """Reopen every ticket in `status` (updated since, of category); one transaction each."""
    candidates = store.find_refs(status=status, since=since, category=category, limit=limit)
    reopened: list[Reopened] = []
    for ref in candidates:
        try:
            stage = reopen_ticket(store, ref.ticket_id, None, actor=actor)
        except TicketBusy:
            continue  # moved on since we listed it: somebody else replayed it
        reopened.append(Reopened(ref.ticket_id, stage, ref.queue))
    return reopened


def reopen_ticket(
    store: TicketRepository, ticket_id: str, stage: Stage | None, *, actor: str
) -> Stage:
    """Put a finished ticket back before `stage` (default: where it failed); returns that stage.

    Re-running classify or route opens a new delivery generation, so the department accepts
    the new delivery while still dropping redeliveries of the old one.
    """
    ticket = store.get(ticket_id)
    if TicketStatus(ticket.status) not in FINAL_STATUSES:
        raise TicketBusy(f"ticket {ticket_id} is {ticket.status}; wait until it is final")
    if stage is None:
        stage = Stage(ticket.failed_stage) if ticket.failed_stage else Stage.classify
    if not store.reopen(Reopening.of(ticket, stage, actor)):
        raise TicketBusy(f"ticket {ticket_id} changed while reopening; try again")
    return stage
