"""The stage tasks: each takes a ticket id, calls its pipeline stage, returns a short outcome."""

from __future__ import annotations

from celery import shared_task

from pipeline.domain.errors import (
    LLMBadAnswer,
    LLMQuotaExhausted,
    LLMUnavailable,
    describe_error,
)
from pipeline.domain.lifecycle import Stage
from pipeline.stages.audit import close_ticket
from pipeline.stages.classify import classify_ticket
from pipeline.stages.classify_fallback import classify_by_fallback
from pipeline.stages.route import route_ticket
from workers.base import StageTask


class ClassifyTask(StageTask):
    """Classify stage: retries LLM outages (bad answers once, at once), then falls back."""

    stage = Stage.classify

    def max_stage_retries(self) -> int:
        return self.services.settings.classify_max_retries

    def on_retries_exhausted(self, ticket_id: str, error: BaseException, attempt: int) -> str:
        """With the LLM down or still answering badly, take the local decision, send to review."""
        services = self.services
        llm_down = isinstance(error, LLMBadAnswer | LLMUnavailable)
        chain = services.fallback_chain
        if not llm_down or chain is None:
            return super().on_retries_exhausted(ticket_id, error, attempt)
        # The next LLM of TRIAGE_LLM_FALLBACKS answers, or local as the last resort (review).
        try:
            outcome = classify_by_fallback(
                services.store,
                chain,
                ticket_id,
                error=error,
                attempt=attempt,
                review_reason=fallback_reason(error, attempt),
            )
        except (LLMBadAnswer, LLMUnavailable):  # no tier left: fail with the primary's error
            return super().on_retries_exhausted(ticket_id, error, attempt)
        return outcome.summary()


def fallback_reason(error: BaseException, attempt: int) -> str:
    """Why the ticket took the local decision and went to review (no ticket text, no key)."""
    if isinstance(error, LLMBadAnswer):
        why = f"LLM gave no usable answer after {attempt} attempts"
    elif isinstance(error, LLMQuotaExhausted):  # no retry was tried: none could help
        why = "LLM quota exhausted"
    else:
        why = f"LLM unavailable after {attempt} attempts"
    return f"{why} ({describe_error(error)})"


class RouteTask(StageTask):
    """Route stage: retries department outages up to a time horizon, fails at once on a 4xx."""

    stage = Stage.route

    def max_stage_retries(self) -> int:
        return self.services.settings.route_max_retries

    def retry_horizon_s(self) -> float | None:
        """A department outage is retried this long (from the first failure), then it fails."""
        return float(self.services.settings.route_retry_horizon_s)


class AuditTask(StageTask):
    """Audit stage: only store errors can happen here; retried a few times."""

    stage = Stage.audit

    def max_stage_retries(self) -> int:
        return 5


@shared_task(bind=True, base=ClassifyTask, name="triage.classify")
def classify(self: ClassifyTask, ticket_id: str, waits: int = 0) -> str:
    """Classify one ticket by id."""
    services = self.services
    return self.run_stage(
        ticket_id,
        lambda attempt: classify_ticket(
            services.store,
            services.classifier,
            ticket_id,
            attempt=attempt,
            fetcher=services.ticket_fetcher,
        ),
        waits=waits,
    )


@shared_task(bind=True, base=RouteTask, name="triage.route")
def route(self: RouteTask, ticket_id: str, waits: int = 0) -> str:
    """Route (deliver) one ticket by id."""
    services = self.services
    return self.run_stage(
        ticket_id,
        lambda attempt: route_ticket(
            services.store,
            services.routing,
            services.departments,
            ticket_id,
            confidence_threshold=services.settings.confidence_threshold,
            sign=services.sign_delivery,
            breaker=services.circuit_breaker,
            attempt=attempt,
            writers=services.helpdesk_writers,
        ),
        waits=waits,
    )


@shared_task(bind=True, base=AuditTask, name="triage.audit")
def audit(self: AuditTask, ticket_id: str, waits: int = 0) -> str:
    """Close one ticket's audit trail by id."""
    services = self.services
    return self.run_stage(
        ticket_id,
        lambda attempt: close_ticket(services.store, ticket_id, attempt=attempt),
        waits=waits,
    )
