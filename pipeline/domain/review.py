"""What the review console asks the store for: ticket searches and the quality figures' inputs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class TicketSearch:
    """Filters of a ticket search; None means any. `text` matches subject or description."""

    ticket_id: str | None = None
    external_id: str | None = None
    customer_id: str | None = None
    status: str | None = None
    category: str | None = None
    source: str | None = None
    language: str | None = None
    classifier: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    text: str | None = None


@dataclass(frozen=True)
class TrailEvent:
    """One audit event as the quality figures read it (no ticket text)."""

    ticket_id: str
    event: str
    detail: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class ReceivedTicket:
    """When a ticket arrived and the category it has now (None: not classified yet)."""

    received_at: datetime
    category: str | None


def top_alternatives(detail: dict[str, Any], limit: int = 3) -> list[tuple[str, float]]:
    """The classifier's runner-up categories with scores, from a `classified` event's detail.

    Reads what the detail holds: `alternatives` (list of {category, score} or pairs),
    `scores` ({category: score}), and the cascade's local answer.
    """
    found: dict[str, float] = {}
    alternatives = detail.get("alternatives")
    if isinstance(alternatives, dict):
        alternatives = list(alternatives.items())
    for item in alternatives or []:
        if isinstance(item, dict) and "category" in item:
            found[str(item["category"])] = float(item.get("score") or item.get("confidence") or 0)
        elif isinstance(item, list | tuple) and len(item) == 2:
            found[str(item[0])] = float(item[1])
    scores = detail.get("scores")
    if isinstance(scores, dict):
        for category, score in scores.items():
            if isinstance(score, int | float):
                found.setdefault(str(category), float(score))
    local = detail.get("local_category")
    if isinstance(local, str) and isinstance(detail.get("local_confidence"), int | float):
        found.setdefault(local, float(detail["local_confidence"]))
    chosen = detail.get("category")
    ranked = sorted(
        ((c, s) for c, s in found.items() if c != chosen), key=lambda item: item[1], reverse=True
    )
    return ranked[:limit]
