"""The classify stage: ask the classifier, record its decision with an audit event."""

from __future__ import annotations

import time
from typing import Any

from pipeline.domain.changes import ClassifiedTicket
from pipeline.domain.classification import Classification
from pipeline.domain.lifecycle import Stage, TicketStatus
from pipeline.ports import Classifier, TicketFetcher, TicketRepository
from pipeline.stages.decisions import decide
from pipeline.stages.fetch import complete_from_helpdesk
from pipeline.stages.outcome import StageOutcome, skipped


def decision_audit(decision: Classification, latency_ms: float) -> dict[str, Any]:
    """What the audit trail keeps of a decision (the reason stays on the ticket only)."""
    return {
        "category": decision.category,
        "urgency": decision.urgency.value,
        "language": decision.language,
        "confidence": round(decision.confidence, 4),
        "urgency_confidence": _rounded(decision.urgency_confidence),
        "sentiment": decision.sentiment.value,
        "sentiment_confidence": _rounded(decision.sentiment_confidence),
        "classifier": decision.classifier,
        "model": decision.model,
        "latency_ms": latency_ms,
        **(
            {"alternatives": [a.model_dump() for a in decision.alternatives]}
            if decision.alternatives
            else {}
        ),
    }


def _rounded(confidence: float | None) -> float | None:
    return None if confidence is None else round(confidence, 4)


def own_review_reason(classifier: Classifier, decision: Classification) -> str | None:
    """Why a local decision goes to review by its model's own threshold (`triage train`).

    The configured threshold still applies to every decision at routing; a local model's
    threshold, chosen for a target precision on held-back data, only adds to it.
    """
    threshold = getattr(classifier, "review_threshold", None)
    if threshold is None or decision.classifier != "local" or decision.confidence >= threshold:
        return None
    return (
        f"confidence {decision.confidence:.2f} below the local model's review threshold "
        f"{threshold:.2f}"
    )


def classify_ticket(
    store: TicketRepository,
    classifier: Classifier,
    ticket_id: str,
    *,
    attempt: int = 1,
    review_reason: str | None = None,
    fetcher: TicketFetcher | None = None,
) -> StageOutcome:
    """Classify a `received` ticket; a ticket past this stage is left alone.

    `review_reason` marks a fallback decision: the ticket will go to review whatever its label.
    """
    ticket = store.get(ticket_id)
    if ticket.status != TicketStatus.received:
        return skipped(ticket_id, Stage.classify, ticket.status)
    # A webhook that carried only the helpdesk's id: its text is read now, not in the request.
    ticket = complete_from_helpdesk(store, fetcher, ticket, attempt=attempt)
    started = time.perf_counter()
    # The classifier runs outside any transaction: an LLM call must not hold a database lock.
    decision, call = decide(classifier, ticket.text(), ticket.queue)
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    own = own_review_reason(classifier, decision)
    detail = {
        **decision_audit(decision, latency_ms),
        **({"fallback": review_reason} if review_reason else {}),
        **({"review": own} if own else {}),
        **call,
    }
    classified = ClassifiedTicket(ticket_id, decision, detail, review_reason=review_reason or own)
    if not store.mark_classified(classified, attempt=attempt):
        return skipped(ticket_id, Stage.classify, "already classified")
    return StageOutcome(ticket_id, Stage.classify, f"classified as {decision.category}")
