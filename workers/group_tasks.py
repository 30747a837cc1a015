"""Grouped classification for backfills: one task classifies many tickets, then fans out."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval

from pipeline.domain.errors import PermanentError, describe_error
from pipeline.domain.lifecycle import Queue, Stage
from pipeline.stages.classify_group import classify_group_of_tickets
from pipeline.telemetry.metrics import STAGE_RETRIES
from workers.base import AtLeastOnceTask
from workers.celery_app import services_for
from workers.chains import enqueue_after_commit

log = logging.getLogger("triage.worker")


@shared_task(bind=True, base=AtLeastOnceTask, name="triage.classify_group")
def classify_group(self: AtLeastOnceTask, ticket_ids: list[str], waits: int = 0) -> str:
    """Classify a group of backfill tickets; route the answered, classify the rest alone."""
    services = services_for(self.app)
    settings = services.settings
    attempt = self.request.retries - waits + 1
    try:
        outcome = classify_group_of_tickets(
            services.store, services.classifier, ticket_ids, attempt=attempt
        )
    except Exception as error:
        waiting = not getattr(error, "counts_as_attempt", True)
        if waiting or (
            not isinstance(error, PermanentError) and attempt <= settings.classify_max_retries
        ):
            countdown = max(
                float(
                    get_exponential_backoff_interval(
                        1, self.request.retries, settings.retry_backoff_max_s, True
                    )
                ),
                float(getattr(error, "retry_after", None) or 0),
            )
            countdown = min(countdown, settings.visibility_timeout / 2)
            STAGE_RETRIES.labels("classify_group").inc()
            raise self.retry(
                exc=error, countdown=countdown, kwargs={"waits": waits + waiting}
            ) from error
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
