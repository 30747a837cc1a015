"""Replaying tickets in bulk: reopen each where it failed, ready to enqueue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from pipeline.lifecycle import Queue, Stage, TicketStatus
from pipeline.stages.failures import TicketBusy, reopen_ticket
from pipeline.store.schema import TicketRow
from pipeline.store.tickets import TicketStore


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
