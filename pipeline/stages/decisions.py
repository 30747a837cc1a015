"""Asking a classifier: one ticket or a group, with what each LLM call cost (for the audit)."""

from __future__ import annotations

from typing import Any

from pipeline.domain.classification import Classification, LLMCall, TicketText
from pipeline.domain.errors import LLMBudgetExhausted, LLMRejected, LLMUnavailable
from pipeline.ports import Classifier
from pipeline.telemetry.metrics import LLM_CACHE_HITS, LLM_REQUESTS, LLM_TOKENS


def decide(
    classifier: Classifier, ticket: TicketText, queue: str
) -> tuple[Classification, dict[str, Any]]:
    """The classifier's decision and its audit detail; LLM outcomes are counted in metrics."""
    try:
        result = classifier.classify_with_details(ticket, queue=queue)
    except LLMBudgetExhausted:
        LLM_REQUESTS.labels("budget_wait").inc()
        raise
    except LLMUnavailable as error:
        LLM_REQUESTS.labels("rate_limited" if error.rate_limited else "unavailable").inc()
        raise
    except LLMRejected:
        LLM_REQUESTS.labels("rejected").inc()
        raise
    if result.call is not None:
        _count_llm_use(result.call)
    return result.decision, result.as_audit()


def decide_group(
    classifier: Classifier, texts: list[TicketText], queue: str
) -> tuple[dict[str, Classification], dict[str, Any]]:
    """Decisions by ticket id (absent: classify alone) and the group's audit detail."""
    result = classifier.classify_group(texts, queue=queue)
    return result.decisions, result.as_audit()


def decide_group_per_ticket(
    classifier: Classifier, texts: list[TicketText], queue: str
) -> tuple[dict[str, Classification], dict[str, dict[str, Any]]]:
    """Decisions by ticket id (absent: classify alone) and each decided ticket's audit detail."""
    result = classifier.classify_group(texts, queue=queue)
    return result.decisions, {
        ticket_id: result.as_audit(ticket_id) for ticket_id in result.decisions
    }


def _count_llm_use(call: LLMCall) -> None:
    if call.cache_hit:
        LLM_CACHE_HITS.inc()
        return
    LLM_REQUESTS.labels("ok").inc()
    LLM_TOKENS.labels("prompt").inc(call.prompt_tokens or 0)
    LLM_TOKENS.labels("output").inc(call.output_tokens or 0)
