"""Find tickets whose current stage did not finish by its deadline, and claim them for requeue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select, update

from pipeline.domain.lifecycle import NEXT_STAGE, Queue, Stage, TicketStatus
from pipeline.store.schema import TicketRow, utcnow
from pipeline.store.tickets import TicketStore, append_audit

PENDING_STATUSES = tuple(status.value for status in NEXT_STAGE)


@dataclass(frozen=True)
class OverdueTicket:
    """A ticket the sweeper re-enqueues, and the stage it resumes from."""

    ticket_id: str
    stage: Stage
    queue: Queue


def claim_overdue_tickets(
    store: TicketStore, *, sweep_after_s: float, limit: int = 500
) -> list[OverdueTicket]:
    """Tickets stuck in a non-final state past the deadline, or whose next attempt is due.

    Claiming touches `updated_at` (in the same transaction as an audit event per ticket), so
    the next sweep leaves them alone until the deadline passes again.
    """
    now = utcnow()
    deadline = now - timedelta(seconds=sweep_after_s)
    with store.transaction() as session:
        rows = session.execute(
            select(TicketRow.id, TicketRow.status, TicketRow.queue, TicketRow.updated_at)
            .where(
                TicketRow.status.in_(PENDING_STATUSES),
                or_(
                    (TicketRow.next_attempt_at.is_(None) & (TicketRow.updated_at < deadline)),
                    TicketRow.next_attempt_at <= now,
                ),
            )
            .order_by(TicketRow.updated_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        claimed: list[OverdueTicket] = []
        for ticket_id, status, queue, updated_at in rows:
            stage = NEXT_STAGE[TicketStatus(status)]
            session.execute(
                update(TicketRow)
                .where(TicketRow.id == ticket_id, TicketRow.status == status)
                .values(updated_at=now, next_attempt_at=None)
            )
            waited_s = round((now - updated_at).total_seconds(), 1)
            append_audit(session, ticket_id, stage, "requeued", {"waited_s": waited_s}, at=now)
            claimed.append(OverdueTicket(ticket_id, stage, Queue(queue)))
    return claimed
