"""Grouped classification for backfills: one task classifies many tickets, then fans out."""

from __future__ import annotations

import logging

from celery import shared_task

from pipeline.domain.errors import describe_error
from pipeline.domain.lifecycle import Queue, Stage
from pipeline.domain.retry_policy import GiveUp, RetryLaterInStore
from pipeline.stages.classify_group import classify_group_of_tickets
from workers.base import PipelineTask
from workers.chains import enqueue_after_commit

log = logging.getLogger("triage.worker")


class ClassifyGroupTask(PipelineTask):
    """Grouped classify: the classify stage's retry limits, one decision for the group."""

    stage = Stage.classify
    metric_label = "classify_group"

    def max_stage_retries(self) -> int:
        return self.services.settings.classify_max_retries


@shared_task(bind=True, base=ClassifyGroupTask, name="triage.classify_group")
def classify_group(self: ClassifyGroupTask, ticket_ids: list[str], waits: int = 0) -> str:
    """Classify a group of backfill tickets; route the answered, classify the rest alone."""
    services = self.services
    attempt = self.request.retries - waits + 1
    try:
        outcome = classify_group_of_tickets(
            services.store, services.classifier, ticket_ids, attempt=attempt
        )
    except Exception as error:
        decision = self.decide(error, attempt)
        if not isinstance(decision, GiveUp):
            # A wait through the broker keeps the group together and records nothing per
            # ticket; a wait too long for the broker is each ticket's, kept in the store (the
            # sweeper brings each back to classify alone).
            deferred = isinstance(decision, RetryLaterInStore)
            wait = self.reschedule(
                error,
                decision,
                attempt=attempt,
                waits=waits,
                record_for=ticket_ids if deferred else [],
            )
            return f"classify group: {len(ticket_ids)} tickets deferred {wait:.0f}s"
        # The group failed for good: each ticket takes the single path, with its own
        # retries, LLM fallback and failure record.
        log.warning(
            "grouped classification gave up (%s); classifying %d tickets alone",
            describe_error(error),
            len(ticket_ids),
        )
        for ticket_id in ticket_ids:
            enqueue_after_commit(self.app, ticket_id, queue=Queue.backfill)
        return f"classify group: gave up, {len(ticket_ids)} sent to classify alone"
    for ticket_id in outcome.classified:
        enqueue_after_commit(self.app, ticket_id, start=Stage.route, queue=Queue.backfill)
    for ticket_id in outcome.alone:
        enqueue_after_commit(self.app, ticket_id, queue=Queue.backfill)
    return outcome.summary()
