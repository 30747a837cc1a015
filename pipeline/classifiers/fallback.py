"""The fallback chain (TRIAGE_LLM_FALLBACKS) and the classifier of each queue.

When a queue's LLM is given up on (retries exhausted, quota exhausted, the monthly cap), the
classify stage asks `FallbackChain.tiers(queue)` in order, then `local` as the last resort
(its decision goes to review). `QueueClassifiers` answers each ticket with its queue's own
classifier (TRIAGE_BACKFILL_CLASSIFIER / TRIAGE_BACKFILL_LLM_MODEL for history).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipeline.domain.classification import (
    Classification,
    ClassifierResult,
    GroupResult,
    TicketText,
)
from pipeline.domain.lifecycle import Queue
from pipeline.ports import Classifier


def llm_identity(classifier: Classifier) -> tuple[str, str]:
    """(provider, model) of the LLM a classifier calls (a cascade's inner LLM)."""
    inner = getattr(classifier, "llm", None)
    target = inner if inner is not None else classifier
    model = getattr(target, "model", None) or target.model_version
    return target.name, str(model)


class QueueClassifiers:
    """The Classifier port answering each call with its queue's classifier (default: live)."""

    def __init__(self, by_queue: Mapping[str, Classifier], default: str = Queue.live.value):
        self.by_queue = dict(by_queue)
        self.default = default
        live = self.by_queue[default]
        self.name = live.name
        self.model_version = live.model_version

    def for_queue(self, queue: str | None) -> Classifier:
        """The classifier of `queue` (an unknown queue or None: the default's)."""
        return self.by_queue.get(queue or self.default, self.by_queue[self.default])

    def classify(self, ticket: TicketText) -> Classification:
        """The default queue's decision."""
        return self.for_queue(None).classify(ticket)

    def classify_many(self, tickets: Sequence[TicketText]) -> list[Classification]:
        """The default queue's decisions, in order."""
        return self.for_queue(None).classify_many(tickets)

    def classify_with_details(
        self, ticket: TicketText, *, queue: str | None = None
    ) -> ClassifierResult:
        """The decision of `queue`'s classifier, with what it cost."""
        return self.for_queue(queue).classify_with_details(ticket, queue=queue)

    def classify_group(
        self, tickets: Sequence[TicketText], *, queue: str | None = None
    ) -> GroupResult:
        """A group, by `queue`'s classifier."""
        return self.for_queue(queue).classify_group(tickets, queue=queue)

    def close(self) -> None:
        """Close every queue's classifier that can be closed."""
        for classifier in {id(c): c for c in self.by_queue.values()}.values():
            close = getattr(classifier, "close", None)
            if callable(close):
                close()


class FallbackChain:
    """The `FallbackChain` port: the LLM tiers after each queue's own, then `local`."""

    def __init__(
        self,
        primaries: Mapping[str, Classifier],
        tiers: Sequence[Classifier],
        local: Classifier | None,
    ) -> None:
        self.primaries = dict(primaries)
        self._tiers = list(tiers)
        self.local = local

    @property
    def providers(self) -> list[str]:
        """The chain's names in order, for logs and `triage doctor`."""
        return [t.name for t in self._tiers] + ([self.local.name] if self.local else [])

    def primary(self, queue: str) -> tuple[str, str]:
        """(provider, model) of the LLM the queue's classifier calls."""
        classifier = self.primaries.get(queue) or self.primaries[Queue.live.value]
        return llm_identity(classifier)

    def tiers(self, queue: str) -> list[Classifier]:
        """The LLM tiers to try after the queue's own LLM, in order (its own provider skipped)."""
        provider, _model = self.primary(queue)
        return [tier for tier in self._tiers if tier.name != provider]
