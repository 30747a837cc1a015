"""The classify stage: ask the classifier, record its decision with an audit event."""

from __future__ import annotations

import time

from pipeline.classification import Classifier
from pipeline.lifecycle import Stage, TicketStatus
from pipeline.stages import StageOutcome, skipped
from pipeline.store.tickets import TicketStore, append_audit


def classify_ticket(
    store: TicketStore,
    classifier: Classifier,
    ticket_id: str,
    *,
    attempt: int = 1,
    review_reason: str | None = None,
) -> StageOutcome:
    """Classify a `received` ticket; a ticket past this stage is left alone.

    `review_reason` marks a fallback decision: the ticket will go to review whatever its label.
    """
    ticket = store.get(ticket_id)
    if ticket.status != TicketStatus.received:
        return skipped(ticket_id, Stage.classify, ticket.status)
    started = time.perf_counter()
    # The classifier runs outside any transaction: an LLM call must not hold a database lock.
    decision = classifier.classify(ticket.text())
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    with store.transaction() as session:
        moved = store.move(
            session,
            ticket_id,
            expected=TicketStatus.received,
            values={
                "status": TicketStatus.classified.value,
                "category": decision.category,
                "urgency": decision.urgency.value,
                "language": decision.language,
                "confidence": decision.confidence,
                "reason": decision.reason,
                "classifier": decision.classifier,
                "model": decision.model,
                "review_reason": review_reason,
                "last_error": None,
            },
        )
        if not moved:
            return skipped(ticket_id, Stage.classify, "already classified")
        append_audit(
            session,
            ticket_id,
            Stage.classify,
            "classified",
            {
                "category": decision.category,
                "urgency": decision.urgency.value,
                "language": decision.language,
                "confidence": round(decision.confidence, 4),
                "classifier": decision.classifier,
                "model": decision.model,
                "latency_ms": latency_ms,
                **({"fallback": review_reason} if review_reason else {}),
            },
            attempt=attempt,
        )
    return StageOutcome(ticket_id, Stage.classify, f"classified as {decision.category}")
