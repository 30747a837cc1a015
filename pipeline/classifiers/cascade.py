"""Cascade: the local model answers when it is sure; the LLM is asked only when it is not."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from pipeline.domain.classification import (
    CascadeStep,
    Classification,
    ClassifierResult,
    GroupResult,
    TicketText,
)
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
        """Whether a local decision is confident enough to skip the LLM.

        A local model trained with a review threshold (`triage train`) is trusted only above
        it as well as above the configured threshold.
        """
        own = getattr(self.local, "review_threshold", None)
        return decision.confidence >= max(self.threshold, own if own is not None else 0.0)

    def classify(self, ticket: TicketText) -> Classification:
        """The local decision when sure, else the LLM's (its errors propagate, to be retried)."""
        return self.classify_with_details(ticket).decision

    def classify_with_details(
        self, ticket: TicketText, *, queue: str | None = None
    ) -> ClassifierResult:
        """The decision, plus the local answer and, when the LLM was asked, its call."""
        local = self.local.classify(ticket)
        step = CascadeStep(self.threshold, local.category, local.confidence)
        if self.is_sure(local):
            self._count("local_answers")
            return ClassifierResult(local, cascade=step)
        self._count("llm_calls")
        asked = self.llm.classify_with_details(ticket, queue=queue)
        return ClassifierResult(asked.decision, asked.call, step)

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

    def classify_group(
        self, tickets: Sequence[TicketText], *, queue: str | None = None
    ) -> GroupResult:
        """Local decisions for all (one batch); the unsure ones in one LLM group call."""
        local = self.local.classify_many(tickets)
        decisions = {t.id: d for t, d in zip(tickets, local, strict=True) if self.is_sure(d)}
        unsure = [t for t in tickets if t.id not in decisions]
        self._count("local_answers", len(decisions))
        if not unsure:
            return GroupResult(decisions, size=len(tickets))
        self._count("llm_calls", len(unsure))
        asked = self.llm.classify_group(unsure, queue=queue)
        return GroupResult(decisions | asked.decisions, len(tickets), asked.call, nested=True)

    def _count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self._counts[what] += n
