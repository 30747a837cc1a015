"""Recording failed attempts, failing tickets for good, and reopening them for a replay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func

from pipeline.errors import TransientError, TriageError
from pipeline.lifecycle import FINAL_STATUSES, STAGE_INPUT_STATUS, Stage, TicketStatus
from pipeline.store.schema import TicketRow, utcnow
from pipeline.store.tickets import TicketStore, append_audit


class TicketBusy(TriageError):
    """The ticket is still moving through the pipeline; it cannot be re-run now."""


def describe_error(error: BaseException) -> str:
    """A short error text for the store and logs: the type and message, never a traceback."""
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:500]


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
