"""The audit stage: close the ticket's trail with its final state and the time each stage took."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, case, select

from pipeline.domain.errors import TicketNotFound
from pipeline.domain.lifecycle import Stage, TicketStatus
from pipeline.stages.outcome import StageOutcome, skipped
from pipeline.store.schema import AuditEventRow, TicketRow, utcnow
from pipeline.store.tickets import TicketStore, append_audit

STAGE_END_EVENTS = {"classified": "classify", "delivered": "route", "routing_recorded": "route"}


def stage_durations_ms(
    received_at: datetime, ends_by_event: list[tuple[str, datetime]], closed_at: datetime
) -> dict[str, float]:
    """Milliseconds from one stage's end to the next (queue wait included), from the trail.

    `ends_by_event` is (event, created_at) of the trail's events, oldest first.
    """
    ends = {"received": received_at}
    for event, created_at in ends_by_event:  # the last success of each stage counts (replays)
        if event in STAGE_END_EVENTS:
            ends[STAGE_END_EVENTS[event]] = created_at
    durations: dict[str, float] = {}
    previous = received_at
    for stage in ("classify", "route"):
        if stage in ends:
            durations[stage] = round((ends[stage] - previous).total_seconds() * 1000, 2)
            previous = ends[stage]
    durations["audit"] = round((closed_at - previous).total_seconds() * 1000, 2)
    durations["total"] = round((closed_at - received_at).total_seconds() * 1000, 2)
    return durations


def close_ticket(store: TicketStore, ticket_id: str, *, attempt: int = 1) -> StageOutcome:
    """Mark a `routed` ticket done (or needs_review) and write the closing audit event."""
    now = utcnow()
    # One transaction: the guarded UPDATE picks the final state and answers with the ticket,
    # the trail gives the stage times; a redelivered audit finds nothing to update.
    with store.transaction() as session:
        ticket = store.move_returning(
            session,
            ticket_id,
            expected=TicketStatus.routed,
            values={"status": _FINAL_STATUS, "finished_at": now},
        )
        if ticket is None:
            status = session.scalar(select(TicketRow.status).where(TicketRow.id == ticket_id))
            if status is None:
                raise TicketNotFound(f"no ticket {ticket_id}")
            return skipped(ticket_id, Stage.audit, status)
        ends = session.execute(
            select(AuditEventRow.event, AuditEventRow.created_at)
            .where(
                AuditEventRow.ticket_id == ticket_id,
                AuditEventRow.event.in_(STAGE_END_EVENTS),
            )
            .order_by(AuditEventRow.id)
        ).all()
        append_audit(
            session,
            ticket_id,
            Stage.audit,
            "closed",
            {
                "status": ticket.status,
                "department": ticket.department,
                "review_reason": ticket.review_reason,
                "attempts": ticket.attempts,
                "stage_ms": stage_durations_ms(
                    ticket.received_at, [(e.event, e.created_at) for e in ends], now
                ),
            },
            attempt=attempt,
            at=now,
        )
    return StageOutcome(ticket_id, Stage.audit, f"closed as {ticket.status}")


# A review reason (a fallback decision, a low confidence...) sends the ticket to review.
_FINAL_STATUS = case(
    (
        and_(TicketRow.review_reason.is_not(None), TicketRow.review_reason != ""),
        TicketStatus.needs_review.value,
    ),
    else_=TicketStatus.done.value,
)
