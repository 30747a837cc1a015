"""Ticket states, stages and the transitions between them."""

from __future__ import annotations

from enum import StrEnum


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
