"""The audit stage: close the ticket's trail with its final state and the time each stage took."""

from __future__ import annotations

from datetime import datetime

from pipeline.lifecycle import Stage, TicketStatus
from pipeline.models import AuditEntry
from pipeline.stages import StageOutcome, skipped
from pipeline.store.schema import utcnow
from pipeline.store.tickets import TicketStore, append_audit


def stage_durations_ms(
    received_at: datetime, trail: list[AuditEntry], closed_at: datetime
) -> dict[str, float]:
    """Milliseconds from one stage's end to the next (queue wait included), from the trail."""
    ends = {"received": received_at}
    for entry in trail:  # the last success of each stage counts (a replay runs it again)
        if entry.event == "classified":
            ends["classify"] = entry.created_at
        elif entry.event in ("delivered", "routing_recorded"):
            ends["route"] = entry.created_at
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
    ticket = store.get(ticket_id)
    if ticket.status != TicketStatus.routed:
        return skipped(ticket_id, Stage.audit, ticket.status)
    final = TicketStatus.needs_review if ticket.review_reason else TicketStatus.done
    now = utcnow()
    durations = stage_durations_ms(ticket.received_at, store.audit_trail(ticket_id), now)
    with store.transaction() as session:
        moved = store.move(
            session,
            ticket_id,
            expected=TicketStatus.routed,
            values={"status": final.value, "finished_at": now},
        )
        if not moved:
            return skipped(ticket_id, Stage.audit, "already closed")
        append_audit(
            session,
            ticket_id,
            Stage.audit,
            "closed",
            {
                "status": final.value,
                "department": ticket.department,
                "review_reason": ticket.review_reason,
                "attempts": ticket.attempts,
                "stage_ms": durations,
            },
            attempt=attempt,
            at=now,
        )
    return StageOutcome(ticket_id, Stage.audit, f"closed as {final.value}")
