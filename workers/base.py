"""The one base task: services, logging context, retry policy and failure handling per stage."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from celery import Task
from celery.exceptions import Retry
from celery.utils.time import get_exponential_backoff_interval

from pipeline.domain.errors import (
    PermanentError,
    PoisonMessage,
    TicketNotFound,
    TransientError,
    describe_error,
)
from pipeline.domain.lifecycle import Stage
from pipeline.stages.failures import fail_ticket, record_failed_attempt
from pipeline.stages.outcome import StageOutcome
from pipeline.telemetry.metrics import STAGE_FAILURES, STAGE_RETRIES, STAGE_SECONDS
from pipeline.wiring import Services
from workers.celery_app import services_for

log = logging.getLogger("triage.worker")


class AtLeastOnceTask(Task):
    """Acknowledged after the work, handed back if the worker dies; retries counted by us."""

    abstract = True
    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True
    # Celery's own count is off: our tasks count failed attempts themselves (waits excluded).
    max_retries = None


class StageTask(AtLeastOnceTask):
    """Base of every stage task: services, explicit retries, metrics, no ticket text."""

    abstract = True
    stage: Stage

    @property
    def services(self) -> Services:
        """This process's store, classifier, routing and department client."""
        return services_for(self.app)

    def max_stage_retries(self) -> int:
        """How many times a transient failure is retried before the ticket fails."""
        raise NotImplementedError

    def retry_countdown(self, error: BaseException) -> float:
        """Exponential backoff with full jitter, or the server's (or breaker's) wait if longer."""
        settings = self.services.settings
        countdown = float(
            get_exponential_backoff_interval(
                factor=1,
                retries=self.request.retries,
                maximum=settings.retry_backoff_max_s,
                full_jitter=True,
            )
        )
        retry_after = getattr(error, "retry_after", None)
        return max(countdown, float(retry_after)) if retry_after else countdown

    def should_give_up(self, ticket_id: str, attempt: int) -> bool:
        """Whether the last failed attempt was the last one allowed."""
        return attempt > self.max_stage_retries()

    def on_retries_exhausted(self, ticket_id: str, error: BaseException, attempt: int) -> str:
        """Fail the ticket with the last error (a stage may fall back instead)."""
        STAGE_FAILURES.labels(self.stage.value).inc()
        fail_ticket(self.services.store, ticket_id, self.stage, error, attempt=attempt)
        log.error(
            "retries exhausted: %s",
            describe_error(error),
            extra={"ticket_id": ticket_id, "stage": self.stage.value},
        )
        raise error

    def run_stage(
        self, ticket_id: str, work: Callable[[int], StageOutcome], *, waits: int = 0
    ) -> str:
        """Run one stage; retry what is transient, fail the ticket on what is permanent.

        `waits` counts re-schedules that were waits of our own making (the shared LLM budget,
        an open circuit): they use up none of the stage's retries.
        """
        attempt = self.request.retries - waits + 1
        extra = {"ticket_id": ticket_id, "task_id": self.request.id, "stage": self.stage.value}
        runs = self.services.stage_runs
        started, outcome = time.perf_counter(), "failed"
        try:
            result, outcome = self._run_guarded(ticket_id, work, attempt, waits, extra)
            return result
        except Retry:
            outcome = "retry"
            raise
        finally:
            STAGE_SECONDS.labels(self.stage.value, outcome).observe(time.perf_counter() - started)
            # Reached on success, retry or recorded failure: only a killed worker skips this,
            # so the count that remains is the number of runs that died mid-way.
            with contextlib.suppress(Exception):
                runs.finished(ticket_id, self.stage.value)

    def _run_guarded(
        self,
        ticket_id: str,
        work: Callable[[int], StageOutcome],
        attempt: int,
        waits: int,
        extra: dict[str, str],
    ) -> tuple[str, str]:
        store = self.services.store
        try:
            started = self.services.stage_runs.started(ticket_id, self.stage.value)
        except Exception:  # the guard is a safety net, not a dependency
            log.warning("stage-run counter unavailable", extra=extra, exc_info=True)
            started = 0
        try:
            if started > self.services.settings.max_deliveries:
                raise PoisonMessage(
                    f"{self.stage.value} started {started} times without finishing "
                    "(its worker died each time)"
                )
            outcome = work(attempt)
        except TicketNotFound:
            log.error("ticket not found; dropping the message", extra=extra)
            return f"{self.stage.value} {ticket_id}: ticket not found", "not_found"
        except PermanentError as error:
            STAGE_FAILURES.labels(self.stage.value).inc()
            fail_ticket(store, ticket_id, self.stage, error, attempt=attempt)
            log.error("stage failed permanently: %s", describe_error(error), extra=extra)
            raise
        except Exception as error:  # transient by type, or unexpected (a dropped DB link...)
            waiting = not getattr(error, "counts_as_attempt", True)
            if not waiting and self.should_give_up(ticket_id, attempt):
                return self.on_retries_exhausted(ticket_id, error, attempt), "fallback"
            return self._retry_later(ticket_id, error, attempt, waits + waiting, extra), "deferred"
        log.info("%s", outcome.result, extra=extra)
        return outcome.summary(), "ok" if outcome.did_work else "skipped"

    def _retry_later(
        self, ticket_id: str, error: BaseException, attempt: int, waits: int, extra: dict[str, str]
    ) -> str:
        settings = self.services.settings
        countdown = self.retry_countdown(error)
        STAGE_RETRIES.labels(self.stage.value).inc()
        # A countdown past half the visibility timeout would let Redis hand the message to a
        # second worker while it still waits: such waits live in the store instead.
        defer = countdown > settings.visibility_timeout / 2
        try:
            record_failed_attempt(
                self.services.store,
                ticket_id,
                self.stage,
                error,
                attempt=attempt,
                retry_in_s=countdown,
                defer_in_store=defer,
            )
        except Exception:  # the store may be what is down; retry through the broker
            log.warning("could not record the failed attempt", extra=extra, exc_info=True)
            defer, countdown = False, min(countdown, settings.visibility_timeout / 2)
        level = logging.WARNING if isinstance(error, TransientError) else logging.ERROR
        log.log(
            level,
            "attempt %d: %s; %s in %.1fs",
            attempt,
            describe_error(error),
            "deferred to the sweeper" if defer else "retry",
            countdown,
            extra=extra,
            exc_info=level >= logging.ERROR,
        )
        if defer:
            return f"{self.stage.value} {ticket_id}: deferred {countdown:.0f}s"
        raise self.retry(exc=error, countdown=countdown, kwargs={"waits": waits}) from error

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        """Nothing extra: the ticket was already marked failed in run_stage."""
