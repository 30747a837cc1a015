"""Ticket states, stages and the transitions between them."""

from __future__ import annotations

from enum import StrEnum

from pipeline.domain.errors import PermanentError


class TicketStatus(StrEnum):
    """Where a ticket is in its life: received → classified → routed → done."""

    received = "received"
    classified = "classified"
    routed = "routed"
    done = "done"
    needs_review = "needs_review"
    failed = "failed"


class Stage(StrEnum):
    """A step of the pipeline; each is one Celery task."""

    ingest = "ingest"
    classify = "classify"
    route = "route"
    audit = "audit"


class Queue(StrEnum):
    """Broker queues: live webhook traffic and historical backfills."""

    live = "live"
    backfill = "backfill"


FINAL_STATUSES = frozenset({TicketStatus.done, TicketStatus.needs_review, TicketStatus.failed})

# The stage that must run next for a ticket in each non-final state.
NEXT_STAGE: dict[TicketStatus, Stage] = {
    TicketStatus.received: Stage.classify,
    TicketStatus.classified: Stage.route,
    TicketStatus.routed: Stage.audit,
}

# The state a ticket must be in for a stage to do its work (anything else: already done).
STAGE_INPUT_STATUS: dict[Stage, TicketStatus] = {
    stage: status for status, stage in NEXT_STAGE.items()
}

PIPELINE_STAGES: tuple[Stage, ...] = (Stage.classify, Stage.route, Stage.audit)


def stages_from(stage: Stage) -> tuple[Stage, ...]:
    """The stages to run to finish a ticket, starting at `stage`."""
    return PIPELINE_STAGES[PIPELINE_STAGES.index(stage) :]


def is_final(status: TicketStatus | str) -> bool:
    """Whether nothing more will happen to the ticket without a person or a replay."""
    return TicketStatus(status) in FINAL_STATUSES


# --- transitions ---------------------------------------------------------------------------


class Move(StrEnum):
    """An operation that changes a ticket's state; the store runs each as one guarded update."""

    classify = "classify"  # the classifier's decision is recorded
    route = "route"  # the department is chosen (and the ticket delivered)
    close = "close"  # the audit stage ends the ticket's run
    retry = "retry"  # a transient failure: the ticket stays where it is, for another attempt
    requeue = "requeue"  # the sweeper claims an overdue ticket: it stays where it is
    hold = "hold"  # a provider batch holds received tickets (next attempt pushed back)
    fail = "fail"  # a permanent failure, or retries used up
    reopen = "reopen"  # a replay puts a final ticket back before a stage
    correct = "correct"  # a person's category, with a re-route when the department changes


_ACTIVE = tuple(NEXT_STAGE)
_FINAL = tuple(sorted(FINAL_STATUSES))

# Every move the pipeline allows, from status -> to status, per operation. Nothing else may
# change a ticket's status: the store checks each guarded update against this table.
ALLOWED_MOVES: dict[Move, frozenset[tuple[TicketStatus, TicketStatus]]] = {
    Move.classify: frozenset({(TicketStatus.received, TicketStatus.classified)}),
    Move.route: frozenset({(TicketStatus.classified, TicketStatus.routed)}),
    Move.close: frozenset(
        {(TicketStatus.routed, TicketStatus.done), (TicketStatus.routed, TicketStatus.needs_review)}
    ),
    Move.retry: frozenset((status, status) for status in _ACTIVE),
    Move.requeue: frozenset((status, status) for status in _ACTIVE),
    Move.hold: frozenset({(TicketStatus.received, TicketStatus.received)}),
    Move.fail: frozenset((status, TicketStatus.failed) for status in _ACTIVE),
    Move.reopen: frozenset(
        (final, STAGE_INPUT_STATUS[stage]) for final in _FINAL for stage in PIPELINE_STAGES
    ),
    Move.correct: frozenset(
        {(final, final) for final in _FINAL}
        | {(final, TicketStatus.classified) for final in _FINAL}
    ),
}


class IllegalMove(PermanentError):
    """A state change the lifecycle does not allow (a bug: it is refused before any write)."""


def check_move(move: Move | None, source: TicketStatus | str, target: TicketStatus | str) -> None:
    """Raise IllegalMove unless `move` (None: any operation) may take `source` to `target`."""
    step = (TicketStatus(source), TicketStatus(target))
    allowed = ALLOWED_MOVES.values() if move is None else (ALLOWED_MOVES[move],)
    if not any(step in moves for moves in allowed):
        who = "no operation may" if move is None else f"{move.value} may not"
        raise IllegalMove(f"{who} move a ticket from {source} to {target}")


def final_status(review_reason: str | None) -> TicketStatus:
    """How a routed ticket ends: any review reason (fallback, low confidence) means review."""
    return TicketStatus.needs_review if review_reason else TicketStatus.done
