"""The one base task: services, logging context, retry policy and failure handling per stage."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Task
from celery.utils.time import get_exponential_backoff_interval

from pipeline.errors import PermanentError, TicketNotFound, TransientError
from pipeline.lifecycle import Stage
from pipeline.services import Services
from pipeline.stages import StageOutcome
from pipeline.stages.failures import describe_error, fail_ticket, record_failed_attempt
from workers.celery_app import services_for

log = logging.getLogger("triage.worker")


class StageTask(Task):
    """Base of every stage task: at-least-once delivery, explicit retries, no ticket text."""

    abstract = True
    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True
    # Celery's own count is off: run_stage counts failed attempts itself (waits excluded).
    max_retries = None
    stage: Stage

    @property
    def services(self) -> Services:
        """This process's store, classifier, routing and department client."""
        return services_for(self.app)

    def max_stage_retries(self) -> int:
        """How many times a transient failure is retried before the ticket fails."""
        raise NotImplementedError

    def retry_countdown(self, error: BaseException) -> float:
        """Exponential backoff with full jitter, honouring a server's requested wait.

        Capped below half the broker's visibility timeout: a longer countdown would let Redis
        hand the same message to a second worker while the first still holds it.
        """
        settings = self.services.settings
        cap = min(settings.retry_backoff_max_s, settings.visibility_timeout // 2)
        countdown = float(
            get_exponential_backoff_interval(
                factor=1, retries=self.request.retries, maximum=cap, full_jitter=True
            )
        )
        retry_after = getattr(error, "retry_after", None)
        if retry_after:
            countdown = max(countdown, float(retry_after))
        return min(countdown, float(cap))

    def on_retries_exhausted(self, ticket_id: str, error: BaseException, attempt: int) -> str:
        """Fail the ticket with the last error (a stage may fall back instead)."""
        fail_ticket(self.services.store, ticket_id, self.stage, error, attempt=attempt)
        log.error(
            "retries exhausted: %s",
            describe_error(error),
            extra={"ticket_id": ticket_id, "stage": self.stage.value},
        )
        raise error

    def run_stage(
        self, ticket_id: str, work: Callable[[int], StageOutcome], *, budget_waits: int = 0
    ) -> str:
        """Run one stage; retry what is transient, fail the ticket on what is permanent.

        `budget_waits` counts re-schedules because the shared LLM budget was spent: they are
        waits, not failed attempts, so they do not use up the stage's retries.
        """
        attempt = self.request.retries - budget_waits + 1
        extra = {"ticket_id": ticket_id, "task_id": self.request.id, "stage": self.stage.value}
        store = self.services.store
        try:
            outcome = work(attempt)
        except TicketNotFound:
            log.error("ticket not found; dropping the message", extra=extra)
            return f"{self.stage.value} {ticket_id}: ticket not found"
        except PermanentError as error:
            fail_ticket(store, ticket_id, self.stage, error, attempt=attempt)
            log.error("stage failed permanently: %s", describe_error(error), extra=extra)
            raise
        except Exception as error:  # transient by type, or unexpected (a dropped DB link...)
            if not getattr(error, "counts_as_attempt", True):
                # Not holding a worker thread while the budget refills: come back later.
                raise self.retry(
                    countdown=self.retry_countdown(error),
                    kwargs={"budget_waits": budget_waits + 1},
                ) from error
            if attempt > self.max_stage_retries():
                return self.on_retries_exhausted(ticket_id, error, attempt)
            countdown = self.retry_countdown(error)
            try:
                record_failed_attempt(
                    store, ticket_id, self.stage, error, attempt=attempt, retry_in_s=countdown
                )
            except Exception:  # the store may be what is down; the retry still happens
                log.warning("could not record the failed attempt", extra=extra, exc_info=True)
            level = logging.WARNING if isinstance(error, TransientError) else logging.ERROR
            log.log(
                level,
                "attempt %d failed (%s); retry in %.1fs",
                attempt,
                describe_error(error),
                countdown,
                extra=extra,
                exc_info=level >= logging.ERROR,
            )
            raise self.retry(exc=error, countdown=countdown) from error
        log.info("%s", outcome.result, extra=extra)
        return outcome.summary()

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        """Nothing extra: the ticket was already marked failed in run_stage."""
