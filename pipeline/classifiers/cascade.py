"""Cascade: the local model answers when it is sure; the LLM is asked only when it is not."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from pipeline.domain.classification import Classification, TicketText
from pipeline.ports import Classifier


class CascadeClassifier:
    """Local first; the LLM only under `threshold`. The answer's `classifier` names who answered."""

    name = "cascade"

    def __init__(self, local: Classifier, llm: Classifier, threshold: float) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError("threshold must be between 0 and 1")
        self.local = local
        self.llm = llm
        self.threshold = threshold
        self.model_version = f"{local.model_version}+{llm.model_version}"
        self._lock = threading.Lock()
        self._counts = {"local_answers": 0, "llm_calls": 0}

    @property
    def llm_calls_saved(self) -> int:
        """Tickets the local model settled without asking the LLM."""
        with self._lock:
            return self._counts["local_answers"]

    @property
    def llm_calls(self) -> int:
        """Tickets passed on to the LLM (cache hits included: the LLM classifier decides)."""
        with self._lock:
            return self._counts["llm_calls"]

    def stats(self) -> dict[str, int]:
        """Counts so far: local_answers (= LLM calls saved) and llm_calls."""
        with self._lock:
            return dict(self._counts)

    def is_sure(self, decision: Classification) -> bool:
        """Whether a local decision is confident enough to skip the LLM."""
        return decision.confidence >= self.threshold

    def classify(self, ticket: TicketText) -> Classification:
        """The local decision when sure, else the LLM's (its errors propagate, to be retried)."""
        return self.classify_with_details(ticket)[0]

    def classify_with_details(
        self, ticket: TicketText, *, queue: str | None = None
    ) -> tuple[Classification, dict[str, Any]]:
        """The decision, plus audit details: the local answer and, when asked, the LLM call's."""
        local = self.local.classify(ticket)
        details: dict[str, Any] = {
            "cascade_threshold": self.threshold,
            "local_category": local.category,
            "local_confidence": local.confidence,
        }
        if self.is_sure(local):
            self._count("local_answers")
            return local, details | {"answered_by": local.classifier}
        self._count("llm_calls")
        with_details = getattr(self.llm, "classify_with_details", None)
        if callable(with_details):
            decision, call = with_details(ticket, queue=queue)
            details["llm_call"] = call.as_audit() if hasattr(call, "as_audit") else call
        else:
            decision = self.llm.classify(ticket)
        return decision, details | {"answered_by": decision.classifier}

    def classify_many(self, tickets: Sequence[TicketText]) -> list[Classification]:
        """Local decisions for all; the unsure ones go to the LLM together, order kept."""
        decisions = list(self.local.classify_many(tickets))
        unsure = [i for i, decision in enumerate(decisions) if not self.is_sure(decision)]
        self._count("local_answers", len(decisions) - len(unsure))
        if unsure:
            self._count("llm_calls", len(unsure))
            answers = self.llm.classify_many([tickets[i] for i in unsure])
            for i, answer in zip(unsure, answers, strict=True):
                decisions[i] = answer
        return decisions

    def _count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self._counts[what] += n
