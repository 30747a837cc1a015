"""The one task base: services, and the retry policy carried out the same way for every task."""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from celery import Task
from celery.exceptions import Retry

from pipeline.domain.errors import (
    PermanentError,
    PoisonMessage,
    TicketNotFound,
    TransientError,
    describe_error,
)
from pipeline.domain.lifecycle import Stage
from pipeline.domain.retry_policy import (
    GiveUp,
    GiveUpReason,
    RetryDecision,
    RetryLaterInStore,
    RetryLimits,
    RetryNow,
    counts_as_attempt,
    decide_retry,
)
from pipeline.stages.failures import fail_ticket, record_failed_attempt
from pipeline.stages.outcome import StageOutcome
from pipeline.store.schema import utcnow
from pipeline.telemetry.metrics import STAGE_FAILURES, STAGE_RETRIES, STAGE_SECONDS
from pipeline.wiring import Services
from workers.celery_app import services_for

log = logging.getLogger("triage.worker")

# The jitter's source; SystemRandom needs no reseeding in a forked pool process.
RNG: random.Random = random.SystemRandom()


class PipelineTask(Task):
    """Base of every task: at least once, this process's services, retries by the policy."""

    abstract = True
    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True
    # Celery's own count is off: the policy counts failed attempts itself (waits excluded).
    max_retries = None
    stage: Stage
    metric_label: str = ""

    @property
    def services(self) -> Services:
        """This process's store, classifier, routing and department client."""
        return services_for(self.app)

    def max_stage_retries(self) -> int:
        """How many times a transient failure is retried before the task gives up."""
        raise NotImplementedError

    def retry_horizon_s(self) -> float | None:
        """Give up once a ticket has been retrying this long (None: no horizon)."""
        return None

    def retry_limits(self) -> RetryLimits:
        """The policy's limits for this task, from the settings."""
        settings = self.services.settings
        return RetryLimits(
            max_retries=self.max_stage_retries(),
            backoff_max_s=settings.retry_backoff_max_s,
            defer_after_s=settings.visibility_timeout / 2,
            horizon_s=self.retry_horizon_s(),
        )

    def decide(
        self, error: BaseException, attempt: int, *, retrying_for_s: float | None = None
    ) -> RetryDecision:
        """Ask the retry policy what follows this failed attempt."""
        return decide_retry(
            error,
            attempt=attempt,
            limits=self.retry_limits(),
            retries=self.request.retries,
            rng=RNG,
            retrying_for_s=retrying_for_s,
        )

    def reschedule(
        self,
        error: BaseException,
        decision: RetryNow | RetryLaterInStore,
        *,
        attempt: int,
        waits: int,
        record_for: Sequence[str],
        extra: dict[str, Any] | None = None,
    ) -> float:
        """Carry out a retry: record the attempt of `record_for`, then wait in the store or
        the broker. Returns the wait when it was deferred to the store; raises Retry else."""
        label = self.metric_label or self.stage.value
        STAGE_RETRIES.labels(label).inc()
        defer = isinstance(decision, RetryLaterInStore)
        wait = decision.delay if isinstance(decision, RetryLaterInStore) else decision.countdown
        try:
            for ticket_id in record_for:
                record_failed_attempt(
                    self.services.store,
                    ticket_id,
                    self.stage,
                    error,
                    attempt=attempt,
                    retry_in_s=wait,
                    defer_in_store=defer,
                )
        except Exception:  # the store may be what is down: wait through the broker instead
            log.warning("could not record the failed attempt", extra=extra, exc_info=True)
            defer = False
        if not defer:
            # Never past half the visibility timeout: Redis would hand the message to a
            # second worker while this one's countdown still runs.
            wait = min(wait, self.retry_limits().defer_after_s)
        level = logging.WARNING if isinstance(error, TransientError) else logging.ERROR
        log.log(
            level,
            "attempt %d: %s; %s in %.1fs",
            attempt,
            describe_error(error),
            "deferred to the sweeper" if defer else "retry",
            wait,
            extra=extra,
            exc_info=level >= logging.ERROR,
        )
        if defer:
            return wait
        waits += 0 if decision.counts_as_attempt else 1
        raise self.retry(exc=error, countdown=wait, kwargs={"waits": waits}) from error


class StageTask(PipelineTask):
    """Base of every stage task: one ticket, guarded against poison messages, timed."""

    abstract = True

    def retrying_for_s(self, ticket_id: str) -> float | None:
        """How long the ticket has been retrying, for stages with a horizon."""
        if self.retry_horizon_s() is None:
            return None
        since = self.services.store.get(ticket_id).retrying_since
        return None if since is None else (utcnow() - since).total_seconds()

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
        """Run one stage; what follows a failure is the retry policy's decision.

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
        except Exception as error:  # transient, permanent, or unexpected (a dropped DB link...)
            return self._after_failure(ticket_id, error, attempt, waits, extra)
        log.info("%s", outcome.result, extra=extra)
        return outcome.summary(), "ok" if outcome.did_work else "skipped"

    def _after_failure(
        self, ticket_id: str, error: Exception, attempt: int, waits: int, extra: dict[str, str]
    ) -> tuple[str, str]:
        retrying_for = None
        if counts_as_attempt(error) and not isinstance(error, PermanentError):
            try:
                retrying_for = self.retrying_for_s(ticket_id)
            except Exception:  # the store is away: the attempt cap still applies
                log.warning("could not read the retry horizon", extra=extra, exc_info=True)
        decision = self.decide(error, attempt, retrying_for_s=retrying_for)
        if isinstance(decision, GiveUp):
            if decision.reason is GiveUpReason.exhausted:
                return self.on_retries_exhausted(ticket_id, error, attempt), "fallback"
            STAGE_FAILURES.labels(self.stage.value).inc()
            fail_ticket(self.services.store, ticket_id, self.stage, error, attempt=attempt)
            log.error("stage failed permanently: %s", describe_error(error), extra=extra)
            raise error
        wait = self.reschedule(
            error, decision, attempt=attempt, waits=waits, record_for=[ticket_id], extra=extra
        )
        return f"{self.stage.value} {ticket_id}: deferred {wait:.0f}s", "deferred"

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        """Nothing extra: the ticket was already marked failed in run_stage."""
