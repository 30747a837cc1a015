"""What a retriage writes on a ticket, by field: shared by the SQL and in-memory stores."""

from __future__ import annotations

from typing import Any

from pipeline.domain.lifecycle import Move, TicketStatus
from pipeline.ports import Retriage
from pipeline.store.fields import decision_fields


def retriaged_fields(change: Retriage) -> dict[str, Any]:
    """The new decision, one generation further; recorded final, or cleared for the route stage."""
    values = {**decision_fields(change.decision), "generation": change.generation + 1}
    values |= {"failed_stage": None, "next_attempt_at": None}
    if change.deliver:
        # The route stage chooses the department again and delivers to this generation; a
        # review reason the plan found (a local model's own threshold) still sends it to review.
        values |= {"review_reason": change.review_reason, "finished_at": None, "stage_runs": 0}
        return values
    return values | {"department": change.department, "review_reason": change.review_reason}


def retriage_moves(change: Retriage) -> list[tuple[Move, TicketStatus, TicketStatus]]:
    """The lifecycle's moves that take the ticket where the change says, in order.

    A final ticket keeps its status, goes back to `classified` (deliver), or changes final
    status through `routed` (reopened before audit, then closed), all in one transaction.
    """
    source, target = change.from_status, change.to_status
    if target is TicketStatus.classified or target is source:
        return [(Move.correct, source, target)]
    return [(Move.reopen, source, TicketStatus.routed), (Move.close, TicketStatus.routed, target)]
