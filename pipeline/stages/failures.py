"""Recording failed attempts and failing tickets for good."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func

from pipeline.domain.errors import TransientError, describe_error
from pipeline.domain.lifecycle import STAGE_INPUT_STATUS, Stage, TicketStatus
from pipeline.store.schema import TicketRow, utcnow
from pipeline.store.tickets import TicketStore, append_audit


def record_failed_attempt(
    store: TicketStore,
    ticket_id: str,
    stage: Stage,
    error: BaseException,
    *,
    attempt: int,
    retry_in_s: float,
    defer_in_store: bool = False,
) -> None:
    """Keep a transient error in the trail; the stage will be tried again.

    With `defer_in_store` the wait is a `next_attempt_at` the sweeper honours (long waits must
    not be broker countdowns: Redis would redeliver them after the visibility timeout).
    """
    message = describe_error(error)
    now = utcnow()
    values: dict[str, object] = {
        "last_error": message,
        "retrying_since": func.coalesce(TicketRow.retrying_since, now),
    }
    if getattr(error, "counts_as_attempt", True):
        values["attempts"] = TicketRow.attempts + 1
    if defer_in_store:
        values["next_attempt_at"] = now + timedelta(seconds=retry_in_s)
    with store.transaction() as session:
        moved = store.move(session, ticket_id, expected=STAGE_INPUT_STATUS[stage], values=values)
        if moved:
            append_audit(
                session,
                ticket_id,
                stage,
                "attempt_failed" if getattr(error, "counts_as_attempt", True) else "waiting",
                {"error": message, "retry_in_s": round(retry_in_s, 1), "deferred": defer_in_store},
                attempt=attempt,
                at=now,
            )


def fail_ticket(
    store: TicketStore, ticket_id: str, stage: Stage, error: BaseException, *, attempt: int
) -> bool:
    """Mark the ticket `failed` at `stage` with its last error (replayable later)."""
    message = describe_error(error)
    with store.transaction() as session:
        moved = store.move(
            session,
            ticket_id,
            expected=STAGE_INPUT_STATUS[stage],
            values={
                "status": TicketStatus.failed.value,
                "failed_stage": stage.value,
                "last_error": message,
                "next_attempt_at": None,
            },
        )
        if moved:
            append_audit(
                session,
                ticket_id,
                stage,
                "failed",
                {"error": message, "permanent": not isinstance(error, TransientError)},
                attempt=attempt,
            )
        return moved
