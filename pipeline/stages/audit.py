"""The audit stage: close the ticket's trail with its final state and the time each stage took."""

from __future__ import annotations

from pipeline.domain.lifecycle import Stage
from pipeline.ports import TicketRepository
from pipeline.stages.outcome import StageOutcome, skipped


def close_ticket(store: TicketRepository, ticket_id: str, *, attempt: int = 1) -> StageOutcome:
    """Mark a `routed` ticket done (or needs_review) and write the closing audit event.

    The store closes it in one transaction (lifecycle.final_status picks the state, the trail
    gives the stage times); a redelivered audit finds nothing to close.
    """
    closed = store.close(ticket_id, attempt=attempt)
    if not closed.closed:
        return skipped(ticket_id, Stage.audit, closed.status)
    return StageOutcome(ticket_id, Stage.audit, f"closed as {closed.status}")
