"""An LLM classifier over any transport: PII masked, decisions cached, calls inside the budget.

The provider only sends (`pipeline.ports.LLMTransport`); everything a provider must not get
wrong on its own (masking, the shared budget, the cache, prompt, parsing, the audit detail)
lives here once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from pipeline.adapters.decision_cache import decision_key
from pipeline.classifiers.cost import MONTHLY_BUDGET_REACHED, CostMeter
from pipeline.classifiers.group_prompt import group_schema
from pipeline.classifiers.llm_group import classify_group
from pipeline.classifiers.prompt import (
    PROMPT_VERSION,
    build_prompt,
    categories_fingerprint,
    estimate_tokens,
    mask_ticket,
    response_schema,
    salvage_answer,
)
from pipeline.domain.classification import (
    Classification,
    ClassifierResult,
    GroupResult,
    LLMCall,
    TicketText,
)
from pipeline.domain.errors import (
    ConfigurationError,
    LLMBadAnswer,
    LLMBudgetExhausted,
    LLMQuotaExhausted,
    LLMRejected,
    TriageError,
)
from pipeline.domain.lifecycle import Queue
from pipeline.ports import DecisionCache, LLMBudget, LLMTransport


class LLMClassifier:
    """The Classifier port on an `LLMTransport`; `last_call` keeps each thread's latest call."""

    def __init__(
        self,
        transport: LLMTransport,
        categories: Mapping[str, str],
        *,
        model: str,
        budget: LLMBudget,
        cache: DecisionCache,
        queue: str = Queue.live.value,
        meter: CostMeter | None = None,
    ) -> None:
        if not categories:
            raise ConfigurationError(
                f"the {transport.provider} classifier needs at least one category"
            )
        self.transport = transport
        self.name = transport.provider
        self.model = model
        self.model_version = f"{model}/{PROMPT_VERSION}"
        self.categories = dict(categories)
        self.queue = queue
        self.budget = budget
        self.cache = cache
        # Prices calls and enforces the monthly cap; wiring sets it (None: cost not tracked).
        self.meter = meter
        self._fingerprint = categories_fingerprint(self.categories)
        # One schema object for every call: transports build their provider's form of it once.
        self.schema = response_schema(self.categories)
        self.group_schema = group_schema(list(self.categories))
        self._local = threading.local()  # last_call per thread: LLM stages run on thread pools

    @property
    def last_call(self) -> LLMCall | None:
        """Details of this thread's latest classify (successful or not)."""
        return getattr(self._local, "last_call", None)

    def classify(self, ticket: TicketText) -> Classification:
        """Classify one ticket (see `classify_with_details`)."""
        return self.classify_with_details(ticket).decision

    def classify_many(self, tickets: Sequence[TicketText]) -> list[Classification]:
        """Each ticket in turn (one call each)."""
        return [self.classify(ticket) for ticket in tickets]

    def classify_group(
        self, tickets: Sequence[TicketText], *, queue: str | None = None
    ) -> GroupResult:
        """One grouped request for the whole group (see `pipeline.classifiers.llm_group`)."""
        return classify_group(self, tickets, queue=queue or self.queue)

    def classify_with_details(
        self, ticket: TicketText, *, queue: str | None = None
    ) -> ClassifierResult:
        """Mask PII, answer from the cache or one budgeted call; raise LLM* errors."""
        queue = queue or self.queue
        masked, kinds = mask_ticket(ticket)
        details = LLMCall(
            provider=self.name,
            model=self.model,
            prompt_version=PROMPT_VERSION,
            cache_hit=False,
            pii_masked=tuple(sorted(kinds)),
            queue=queue,
        )
        key = decision_key(
            self.model, PROMPT_VERSION, masked.subject, masked.description, self._fingerprint
        )
        cached = self.cache.get(key)
        if cached is not None and cached.category in self.categories:
            return ClassifierResult(cached, self._remember(details, cache_hit=True))

        system, contents = build_prompt(masked, self.categories)
        estimate = estimate_tokens(system, contents)
        details = self._remember(details, estimated_tokens=estimate)
        if self.meter is not None:
            try:
                self.meter.check_budget()
            except LLMQuotaExhausted:
                self._remember(details, error=MONTHLY_BUDGET_REACHED)
                raise
        wait = self.budget.try_acquire(estimate, queue=queue)
        if wait > 0:
            self._remember(details, error="budget exhausted")
            raise LLMBudgetExhausted(f"LLM budget exhausted, wait {wait:.2f}s", retry_after=wait)

        started = time.perf_counter()
        try:
            answer = self.transport.send(
                system=system, contents=contents, schema=self.schema, model=self.model
            )
        except TriageError as exc:
            self._remember(details, latency_ms=_ms(started), error=str(exc)[:200])
            raise
        details = self._remember(
            details,
            latency_ms=_ms(started),
            prompt_tokens=answer.prompt_tokens,
            output_tokens=answer.output_tokens,
            cost_usd=self._charge(answer.prompt_tokens, answer.output_tokens, queue),
        )
        if answer.total_tokens:  # thinking tokens count against the quota too
            self.budget.record_tokens(answer.total_tokens, estimated=estimate, queue=queue)
        if not answer.text and answer.blocked is not None:
            self._remember(details, error="blocked")
            raise LLMRejected(answer.blocked)
        try:
            salvaged = salvage_answer(
                answer.text, self.categories, classifier=self.name, model=self.model_version
            )
        except LLMBadAnswer:
            self._remember(details, error="answer outside the schema")
            raise
        if salvaged.repaired:
            # Used for this ticket, not cached: the cache keeps only answers given in full.
            details = self._remember(details, repaired=salvaged.repaired)
        else:
            self.cache.put(key, salvaged.decision)
        return ClassifierResult(salvaged.decision, details)

    def close(self) -> None:
        """Close the transport's connections."""
        self.transport.close()

    def _charge(
        self, prompt_tokens: int | None, output_tokens: int | None, queue: str
    ) -> float | None:
        """The call's cost, charged to the metrics and the monthly ledger (None: unknown)."""
        if self.meter is None:
            return None
        return self.meter.charge(
            provider=self.name,
            model=self.model,
            queue=queue,
            prompt_tokens=prompt_tokens,
            output_tokens=output_tokens,
        )

    def _remember(self, details: LLMCall, **changes: Any) -> LLMCall:
        updated = replace(details, **changes)
        self._local.last_call = updated
        return updated


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
