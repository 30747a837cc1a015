"""What each named change writes on a ticket, by field: shared by the SQL and in-memory stores.

Keys are TicketRecord field names (the SQL store's mapped attribute names), so both stores
apply the same change the same way. Only the stores use these: callers pass typed changes.
"""

from __future__ import annotations

from typing import Any

from pipeline.domain.changes import CategoryCorrection, ClassifiedTicket, Reopening, RoutedTicket
from pipeline.domain.classification import Classification
from pipeline.domain.lifecycle import Stage, TicketStatus
from pipeline.ports import FetchedTicket


def decision_fields(decision: Classification) -> dict[str, Any]:
    """The fields a classifier's decision sets."""
    return {
        "category": decision.category,
        "urgency": decision.urgency.value,
        "language": decision.language,
        "confidence": decision.confidence,
        "urgency_confidence": decision.urgency_confidence,
        "sentiment": decision.sentiment.value,
        "sentiment_confidence": decision.sentiment_confidence,
        "reason": decision.reason,
        "classifier": decision.classifier,
        "model": decision.model,
        "last_error": None,
    }


def classified_values(decision: Classification) -> dict[str, Any]:
    """A decision's fields with the state it moves the ticket to (for store-internal moves)."""
    return {"status": TicketStatus.classified.value, **decision_fields(decision)}


def classified_fields(classified: ClassifiedTicket) -> dict[str, Any]:
    """received → classified: the decision, and a fallback's review reason."""
    return {**decision_fields(classified.decision), "review_reason": classified.review_reason}


def routed_fields(routed: RoutedTicket) -> dict[str, Any]:
    """classified → routed: the department, and why it goes to review if it does."""
    return {
        "department": routed.department,
        "review_reason": routed.reason if routed.needs_review else None,
        "last_error": None,
    }


def failed_fields(stage: Stage, error: str) -> dict[str, Any]:
    """→ failed: where, and the last error (a replay resumes there)."""
    return {"failed_stage": stage.value, "last_error": error, "next_attempt_at": None}


def reopened_fields(reopening: Reopening) -> dict[str, Any]:
    """final → before a stage: a clean run, maybe a new generation."""
    fields: dict[str, Any] = {
        "failed_stage": None,
        "last_error": None,
        "finished_at": None,
        "next_attempt_at": None,
        "stage_runs": 0,
        "generation": reopening.generation,
    }
    if reopening.clear_review_reason:
        fields["review_reason"] = None
    return fields


def corrected_fields(correction: CategoryCorrection) -> dict[str, Any]:
    """A person's category (also the ticket's known label); a re-route starts a generation."""
    fields: dict[str, Any] = {
        "category": correction.category,
        "confidence": 1.0,
        "classifier": "person",
        "model": correction.actor[:128],
        "reason": "category set by a person",
        "known_category": correction.category,
        "review_reason": None,
    }
    if correction.rerouted:
        # A new generation: the new department accepts it, redeliveries of the old one drop.
        fields |= {
            "generation": correction.generation,
            "finished_at": None,
            "failed_stage": None,
            "last_error": None,
        }
    return fields


def fetched_fields(fetched: FetchedTicket) -> dict[str, Any]:
    """What a helpdesk fetch sets: the ticket's real text, customer and metadata."""
    changes: dict[str, Any] = {
        "subject": fetched.subject,
        "description": fetched.description,
        "customer_id": fetched.customer_id,
        "extra": fetched.extra,
    }
    if fetched.priority is not None:
        changes["priority"] = fetched.priority
    return changes


def fetched_detail(fetched: FetchedTicket) -> dict[str, Any]:
    """The `fetched` audit detail: where from, never the ticket's text."""
    helpdesk = fetched.extra.get("helpdesk")
    source = helpdesk.get("connector") if isinstance(helpdesk, dict) else None
    return {"connector": source, "fields": sorted(fetched_fields(fetched))}
