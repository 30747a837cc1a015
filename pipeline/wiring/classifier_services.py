"""The classifier half of `Services`: the local model, each queue's LLM, cost and fallbacks."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

from pipeline.domain.lifecycle import Queue
from pipeline.ports import Classifier, SpendLedger
from pipeline.settings import LLM_PROVIDERS, ClassifierChoice, Settings
from pipeline.wiring.classifiers import build_classifier, build_llm_classifier

if TYPE_CHECKING:
    from pipeline.classifiers.cost import CostMeter
    from pipeline.classifiers.fallback import FallbackChain as Chain
    from pipeline.domain.routing import RoutingTable
    from pipeline.store.tickets import TicketStore

log = logging.getLogger(__name__)


class ClassifierServices:
    """Classifiers built from settings on first use (mixed into `Services`)."""

    settings: Settings
    _given_classifier: Classifier | None
    _given_local_classifier: Classifier | None

    if TYPE_CHECKING:  # provided by Services

        @property
        def routing(self) -> RoutingTable: ...

        @property
        def store(self) -> TicketStore: ...

    @cached_property
    def local_classifier(self) -> Classifier:
        """The offline model: the classifier, or the LLM's fallback (loaded on first use)."""
        if self._given_local_classifier is not None:
            return self._given_local_classifier
        from pipeline.classifiers.local.classifier import load_local_classifier

        return load_local_classifier(self.settings.local_model)

    @cached_property
    def classifier(self) -> Classifier:
        """The configured classifier, built on first use (loading a model takes a moment).

        With TRIAGE_BACKFILL_CLASSIFIER/TRIAGE_BACKFILL_LLM_MODEL each queue has its own.
        """
        if self._given_classifier is not None:
            return self._given_classifier
        live = build_classifier(self.settings, self.routing, self.local_classifier, self.meter)
        log.info("classifier ready: %s (%s)", live.name, live.model_version)
        backfill_settings = self.settings.queue_settings(Queue.backfill.value)
        if backfill_settings is self.settings:
            return live
        from pipeline.classifiers.fallback import QueueClassifiers

        backfill = build_classifier(
            backfill_settings, self.routing, self.local_classifier, self.meter
        )
        log.info("backfill classifier ready: %s (%s)", backfill.name, backfill.model_version)
        return QueueClassifiers({Queue.live.value: live, Queue.backfill.value: backfill})

    def classifier_for(self, queue: str) -> Classifier:
        """The classifier of one queue (the same for both unless backfill has its own)."""
        classifier = self.classifier
        for_queue = getattr(classifier, "for_queue", None)
        return for_queue(queue) if callable(for_queue) else classifier

    @cached_property
    def spend_ledger(self) -> SpendLedger:
        """Month-to-date LLM spend, shared through Redis when there is one."""
        from pipeline.adapters.llm_spend import build_spend_ledger

        return build_spend_ledger(self.settings.shared_redis_url(), self._spend_since)

    def _spend_since(self, start: datetime) -> float:
        # Seeds a missing month counter from the audit trail (an in-memory store has none).
        reports = getattr(self.store, "reports", None)
        return float(reports.llm_spend_since(start)) if reports is not None else 0.0

    @cached_property
    def meter(self) -> CostMeter:
        """Prices each LLM call (TRIAGE_LLM_PRICES) and enforces TRIAGE_LLM_MONTHLY_BUDGET."""
        from pipeline.classifiers.cost import CostMeter
        from pipeline.domain.pricing import price_table

        prices = price_table(self.settings.price_overrides())
        return CostMeter(prices, self.spend_ledger, monthly_budget=self.settings.llm_monthly_budget)

    @cached_property
    def fallback_chain(self) -> Chain | None:
        """TRIAGE_LLM_FALLBACKS after each queue's LLM, then local (None: no LLM to fall from)."""
        from pipeline.classifiers.fallback import FallbackChain as Chain

        primaries = {q.value: self.classifier_for(q.value) for q in Queue}
        if all(c is self.local_classifier for c in primaries.values()):
            return None
        chosen = self.settings.fallback_providers()
        tiers = [
            build_llm_classifier(
                self.settings.model_copy(update={"classifier": p, "llm_model": None}),
                self.routing,
                self.meter,
            )
            for p in chosen
            if p in LLM_PROVIDERS
        ]
        use_local = (
            ClassifierChoice.local in chosen and self.settings.llm_fallback == "needs_review"
        )
        return Chain(primaries, tiers, self.local_classifier if use_local else None)
