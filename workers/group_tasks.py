"""Grouped backfill stages: one task takes a group through classify, route and audit in bulk.

A group finishes before the next one starts (no classify tasks piling up ahead of every route
and audit in the FIFO backfill queue); what cannot be done in bulk goes the single path.
"""

from __future__ import annotations

import contextlib
import logging

from celery import shared_task

from pipeline.backfill.group_run import GroupRun, run_group
from pipeline.domain.errors import PoisonMessage, describe_error
from pipeline.domain.lifecycle import NEXT_STAGE, Queue, Stage, TicketStatus
from pipeline.domain.retry_policy import GiveUp, RetryLaterInStore
from workers.base import PipelineTask
from workers.chains import enqueue_after_commit

log = logging.getLogger("triage.worker")
GROUP_STAGE = "group"  # the poison guard's stage name for a whole group


class ClassifyGroupTask(PipelineTask):
    """Grouped stages: the classify stage's retry limits, one decision for the group."""

    stage = Stage.classify
    metric_label = "classify_group"

    def max_stage_retries(self) -> int:
        return self.services.settings.classify_max_retries


@shared_task(bind=True, base=ClassifyGroupTask, name="triage.classify_group")
def classify_group(self: ClassifyGroupTask, ticket_ids: list[str], waits: int = 0) -> str:
    """Take a group of backfill tickets through classify, route and audit in bulk."""
    services = self.services
    settings = services.settings
    attempt = self.request.retries - waits + 1
    runs, key = services.stage_runs, f"group:{ticket_ids[0]}:{len(ticket_ids)}"
    try:
        started = runs.started(key, GROUP_STAGE) if ticket_ids else 0
    except Exception:  # the guard is a safety net, not a dependency
        started = 0
    try:
        if started > settings.max_deliveries:
            raise PoisonMessage(f"group started {started} times without finishing")
        if attempt == 1 and not waits:
            services.backfill_pace.wait_for(len(ticket_ids))
        outcome = run_group(
            services.store,
            services.grouped,
            services.classifier,
            services.routing,
            ticket_ids,
            confidence_threshold=settings.confidence_threshold,
            chunk_size=settings.llm_group_size,
            attempt=attempt,
            between_steps=services.backfill_pace.yield_to_live,
        )
    except Exception as error:
        return _after_failure(self, ticket_ids, error, attempt, waits)
    finally:
        with contextlib.suppress(Exception):
            runs.finished(key, GROUP_STAGE)
    _send_alone(self, outcome)
    return outcome.summary()


def _send_alone(task: ClassifyGroupTask, outcome: GroupRun) -> None:
    for ticket_id in outcome.classify_alone:
        enqueue_after_commit(task.app, ticket_id, queue=Queue.backfill)
    for ticket_id in outcome.route_alone:
        enqueue_after_commit(task.app, ticket_id, start=Stage.route, queue=Queue.backfill)


def _after_failure(
    task: ClassifyGroupTask, ticket_ids: list[str], error: Exception, attempt: int, waits: int
) -> str:
    """Retry the group (it resumes where it stopped), or give it up to the single path."""
    if not isinstance(error, PoisonMessage):
        retry = task.decide(error, attempt)
        if not isinstance(retry, GiveUp):
            # A wait through the broker keeps the group together and records nothing per
            # ticket; a wait too long for the broker is each ticket's, kept in the store (the
            # sweeper brings each back to its stage alone).
            deferred = isinstance(retry, RetryLaterInStore)
            wait = task.reschedule(
                error,
                retry,
                attempt=attempt,
                waits=waits,
                record_for=ticket_ids if deferred else [],
            )
            return f"classify group: {len(ticket_ids)} tickets deferred {wait:.0f}s"
    # The group failed for good: each ticket takes the single path from where it stands, with
    # its own retries, LLM fallback and failure record.
    log.warning(
        "grouped stages gave up (%s); %d tickets go one by one",
        describe_error(error),
        len(ticket_ids),
    )
    statuses = task.services.grouped.statuses_of(ticket_ids)
    sent = 0
    for ticket_id, status in statuses.items():
        stage = NEXT_STAGE.get(TicketStatus(status))
        if stage is not None:
            sent += enqueue_after_commit(task.app, ticket_id, start=stage, queue=Queue.backfill)
    if all(s == TicketStatus.received.value for s in statuses.values()):
        return f"classify group: gave up, {sent} sent to classify alone"
    return f"classify group: gave up, {sent} sent on alone"
