"""What LLM calls cost: priced from reported tokens, counted in metrics and the monthly ledger."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from pipeline.domain.errors import LLMQuotaExhausted
from pipeline.domain.pricing import PriceTable
from pipeline.ports import SpendLedger
from pipeline.telemetry.metrics import LLM_COST

log = logging.getLogger(__name__)

MONTHLY_BUDGET_REACHED = "monthly budget reached"


@dataclass(frozen=True)
class MonthlySpend:
    """Month-to-date spend against the cap (None: no cap)."""

    spent_usd: float
    budget_usd: float | None

    @property
    def reached(self) -> bool:
        """Whether the month's cap is used up."""
        return self.budget_usd is not None and self.spent_usd >= self.budget_usd


class CostMeter:
    """Prices each call, charges the monthly ledger, and refuses calls past the monthly cap."""

    def __init__(
        self, prices: PriceTable, ledger: SpendLedger, *, monthly_budget: float | None = None
    ) -> None:
        self.prices = prices
        self.ledger = ledger
        self.monthly_budget = monthly_budget
        self._unknown: set[str] = set()
        self._lock = threading.Lock()

    def monthly(self) -> MonthlySpend:
        """Month-to-date spend and the cap."""
        return MonthlySpend(self.ledger.month_to_date(), self.monthly_budget)

    def check_budget(self) -> None:
        """Raise LLMQuotaExhausted (no retry: next in the chain) once the month's cap is spent."""
        if self.monthly_budget is None:
            return
        spend = self.monthly()
        if spend.reached:
            raise LLMQuotaExhausted(
                f"{MONTHLY_BUDGET_REACHED}: ${spend.spent_usd:.2f} of "
                f"${self.monthly_budget:.2f} (TRIAGE_LLM_MONTHLY_BUDGET)"
            )

    def charge(
        self,
        *,
        provider: str,
        model: str,
        queue: str,
        prompt_tokens: int | None,
        output_tokens: int | None,
    ) -> float | None:
        """The call's cost in USD, counted in metrics and the ledger (None: price unknown)."""
        cost = self.prices.cost_usd(model, prompt_tokens, output_tokens)
        if cost is None:
            if self.prices.price(model) is None:
                self._warn_unknown(model)
            return None
        LLM_COST.labels(provider, model, queue).inc(cost)
        if cost > 0:
            self.ledger.add(cost)
        return cost

    def _warn_unknown(self, model: str) -> None:
        with self._lock:
            if model in self._unknown:
                return
            self._unknown.add(model)
        log.warning(
            "no price for LLM model %r: its cost is unknown (add it to TRIAGE_LLM_PRICES)", model
        )
