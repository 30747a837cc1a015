"""The detailed and grouped calls of a classifier that asks no LLM (local model, scripts)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pipeline.domain.classification import (
    Classification,
    ClassifierResult,
    GroupResult,
    TicketText,
)


class _Classifies(Protocol):
    def classify(self, ticket: TicketText) -> Classification: ...

    def classify_many(self, tickets: Sequence[TicketText]) -> list[Classification]: ...


class OfflineCalls:
    """Mixin: `classify_with_details` (nothing to report) and `classify_group` (one batch)."""

    def classify_with_details(
        self: _Classifies, ticket: TicketText, *, queue: str | None = None
    ) -> ClassifierResult:
        """The decision; no LLM was asked, so there is no call to report."""
        return ClassifierResult(self.classify(ticket))

    def classify_group(
        self: _Classifies, tickets: Sequence[TicketText], *, queue: str | None = None
    ) -> GroupResult:
        """Every ticket in one `classify_many` call (vectorised for the local model)."""
        decisions = self.classify_many(tickets)
        return GroupResult(
            {t.id: d for t, d in zip(tickets, decisions, strict=True)}, size=len(tickets)
        )
