"""The classify stage once the queue's LLM is given up on: the next tier of the chain answers."""

from __future__ import annotations

import logging
import time
from typing import Any

from pipeline.domain.changes import ClassifiedTicket
from pipeline.domain.classification import Classification, TicketText
from pipeline.domain.errors import LLMRejected, LLMUnavailable, describe_error
from pipeline.domain.lifecycle import Stage, TicketStatus
from pipeline.ports import Classifier, FallbackChain, TicketRepository
from pipeline.stages.classify import decision_audit
from pipeline.stages.decisions import decide
from pipeline.stages.outcome import StageOutcome, skipped

log = logging.getLogger(__name__)


def classify_by_fallback(
    store: TicketRepository,
    chain: FallbackChain,
    ticket_id: str,
    *,
    error: BaseException,
    attempt: int,
    review_reason: str,
) -> StageOutcome:
    """Ask each LLM tier after the failed one, then local (sent to review with `review_reason`).

    The audit names who answered and, under `fallback_from`, each tier that failed before it
    and why; with no tier left to answer, the primary's `error` is raised (the ticket fails).
    """
    ticket = store.get(ticket_id)
    if ticket.status != TicketStatus.received:
        return skipped(ticket_id, Stage.classify, ticket.status)
    provider, model = chain.primary(ticket.queue)
    failed = [_failure(provider, model, error)]
    text = ticket.text()
    for tier in chain.tiers(ticket.queue):
        started = time.perf_counter()
        try:
            decision, call = decide(tier, text, ticket.queue)
        except (LLMUnavailable, LLMRejected) as tier_error:
            failed.append(_failure(tier.name, _model(tier), tier_error))
            continue
        return _record(store, ticket_id, attempt, decision, call, started, failed, None)
    if chain.local is None:
        raise error
    started = time.perf_counter()
    decision, call = _ask_local(chain.local, text, ticket.queue)
    return _record(store, ticket_id, attempt, decision, call, started, failed, review_reason)


def _ask_local(local: Classifier, text: TicketText, queue: str) -> tuple[Classification, Any]:
    result = local.classify_with_details(text, queue=queue)
    return result.decision, result.as_audit()


def _record(
    store: TicketRepository,
    ticket_id: str,
    attempt: int,
    decision: Classification,
    call: dict[str, Any],
    started: float,
    failed: list[dict[str, str]],
    review_reason: str | None,
) -> StageOutcome:
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    detail = {
        **decision_audit(decision, latency_ms),
        **({"fallback": review_reason} if review_reason else {}),
        **call,
        "answered_by": decision.classifier,
        "fallback_from": failed,
    }
    log.warning(
        "classified by fallback %s after %s",
        decision.classifier,
        ", ".join(f"{f['provider']} ({f['error'][:80]})" for f in failed),
        extra={"ticket_id": ticket_id, "stage": Stage.classify.value},
    )
    classified = ClassifiedTicket(ticket_id, decision, detail, review_reason=review_reason)
    if not store.mark_classified(classified, attempt=attempt):
        return skipped(ticket_id, Stage.classify, "already classified")
    return StageOutcome(
        ticket_id, Stage.classify, f"classified as {decision.category} by {decision.classifier}"
    )


def _failure(provider: str, model: str, error: BaseException) -> dict[str, str]:
    # The error's type and message only: providers' messages are already free of ticket text.
    return {"provider": provider, "model": model, "error": describe_error(error)}


def _model(tier: Classifier) -> str:
    return str(getattr(tier, "model", None) or tier.model_version)
