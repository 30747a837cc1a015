"""Recording failed attempts and failing tickets for good."""

from __future__ import annotations

from pipeline.domain.changes import FailedAttempt
from pipeline.domain.errors import TransientError, describe_error
from pipeline.domain.lifecycle import Stage
from pipeline.domain.retry_policy import counts_as_attempt
from pipeline.ports import TicketRepository


def record_failed_attempt(
    store: TicketRepository,
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
    failure = FailedAttempt(
        stage,
        describe_error(error),
        retry_in_s,
        attempt,
        # Waits of our own making (the LLM budget, an open circuit) use up no retries.
        counts_as_attempt=counts_as_attempt(error),
        defer=defer_in_store,
    )
    store.record_attempt(ticket_id, failure)


def fail_ticket(
    store: TicketRepository, ticket_id: str, stage: Stage, error: BaseException, *, attempt: int
) -> bool:
    """Mark the ticket `failed` at `stage` with its last error (replayable later)."""
    return store.fail(
        ticket_id,
        stage,
        error=describe_error(error),
        permanent=not isinstance(error, TransientError),
        attempt=attempt,
    )
