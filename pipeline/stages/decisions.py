"""Asking a classifier: one ticket or a group, with what each LLM call cost (for the audit)."""

from __future__ import annotations

from typing import Any

from pipeline.domain.classification import Classification, TicketText
from pipeline.domain.errors import LLMBudgetExhausted, LLMRejected, LLMUnavailable
from pipeline.ports import Classifier
from pipeline.telemetry.metrics import LLM_CACHE_HITS, LLM_REQUESTS, LLM_TOKENS


def decide(
    classifier: Classifier, ticket: TicketText, queue: str
) -> tuple[Classification, dict[str, Any]]:
    """Ask the classifier; LLM classifiers also say what the call cost (for the audit trail)."""
    with_details = getattr(classifier, "classify_with_details", None)
    if with_details is None:
        return classifier.classify(ticket), {}
    try:
        decision, details = with_details(ticket, queue=queue)
    except LLMBudgetExhausted:
        LLM_REQUESTS.labels("budget_wait").inc()
        raise
    except LLMUnavailable as error:
        LLM_REQUESTS.labels("rate_limited" if "429" in str(error) else "unavailable").inc()
        raise
    except LLMRejected:
        LLM_REQUESTS.labels("rejected").inc()
        raise
    audit = details.as_audit() if hasattr(details, "as_audit") else dict(details)
    _count_llm_use(audit.get("llm_call", audit))
    return decision, audit


def decide_group(
    classifier: Classifier, texts: list[TicketText], queue: str
) -> tuple[dict[str, Classification], dict[str, Any]]:
    """Grouped LLM request where the classifier has one; else one vectorised batch call."""
    from pipeline.classifiers.gemini.classifier import GeminiClassifier
    from pipeline.classifiers.gemini.group import classify_group

    if isinstance(classifier, GeminiClassifier):
        return classify_group(classifier, texts, queue=queue)
    decisions = classifier.classify_many(texts)
    return {t.id: d for t, d in zip(texts, decisions, strict=True)}, {"batched": len(texts)}


def _count_llm_use(call: dict[str, Any]) -> None:
    if call.get("provider") is None:
        return  # the cascade's local model answered: no LLM call
    if call.get("cache_hit"):
        LLM_CACHE_HITS.inc()
        return
    LLM_REQUESTS.labels("ok").inc()
    LLM_TOKENS.labels("prompt").inc(call.get("prompt_tokens") or 0)
    LLM_TOKENS.labels("output").inc(call.get("output_tokens") or 0)
