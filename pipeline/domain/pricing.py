"""LLM prices per model and the cost of one call, from the tokens the provider reported.

The built-in table is a snapshot of the providers' public list prices (standard tier, text,
prompts under 200k tokens) taken 2025-11. Prices change: check
https://ai.google.dev/gemini-api/docs/pricing, https://openai.com/api/pricing/ and
https://docs.anthropic.com/en/docs/about-claude/pricing, and override any entry with
TRIAGE_LLM_PRICES (merged over this table).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PRICES_SNAPSHOT_DATE = "2025-11"


@dataclass(frozen=True)
class ModelPrice:
    """USD per one million tokens, in and out (thinking tokens are billed as output)."""

    input: float
    output: float


DEFAULT_PRICES: dict[str, ModelPrice] = {
    # Gemini (ai.google.dev/gemini-api/docs/pricing)
    "gemini-2.5-pro": ModelPrice(1.25, 10.0),
    "gemini-2.5-flash": ModelPrice(0.30, 2.50),
    "gemini-2.5-flash-lite": ModelPrice(0.10, 0.40),
    "gemini-2.0-flash": ModelPrice(0.10, 0.40),
    "gemini-2.0-flash-lite": ModelPrice(0.075, 0.30),
    # OpenAI (openai.com/api/pricing)
    "gpt-5": ModelPrice(1.25, 10.0),
    "gpt-5-mini": ModelPrice(0.25, 2.0),
    "gpt-5-nano": ModelPrice(0.05, 0.40),
    "gpt-4.1": ModelPrice(2.0, 8.0),
    "gpt-4.1-mini": ModelPrice(0.40, 1.60),
    "gpt-4.1-nano": ModelPrice(0.10, 0.40),
    "gpt-4o": ModelPrice(2.50, 10.0),
    "gpt-4o-mini": ModelPrice(0.15, 0.60),
    # Anthropic (docs.anthropic.com/en/docs/about-claude/pricing)
    "claude-opus-4-1": ModelPrice(15.0, 75.0),
    "claude-opus-4-5": ModelPrice(5.0, 25.0),
    "claude-sonnet-4-5": ModelPrice(3.0, 15.0),
    "claude-sonnet-4": ModelPrice(3.0, 15.0),
    "claude-haiku-4-5": ModelPrice(1.0, 5.0),
    "claude-3-5-haiku": ModelPrice(0.80, 4.0),
}


class PriceTable:
    """Prices by model name; a dated name (`gpt-4.1-mini-2025-04-14`) takes its family's price."""

    def __init__(self, prices: Mapping[str, ModelPrice]) -> None:
        self.prices = dict(prices)
        # Longest first: `gpt-4.1-mini-…` must match `gpt-4.1-mini`, not `gpt-4.1`.
        self._names = sorted(self.prices, key=len, reverse=True)

    def price(self, model: str) -> ModelPrice | None:
        """The model's price, None when the table does not know it."""
        name = model.removeprefix("models/")
        if name in self.prices:
            return self.prices[name]
        for known in self._names:
            if name.startswith(known + "-") or name.startswith(known + "@"):
                return self.prices[known]
        return None

    def cost_usd(
        self, model: str, prompt_tokens: int | None, output_tokens: int | None
    ) -> float | None:
        """The call's cost in USD (None: unknown model, or the provider reported no tokens)."""
        price = self.price(model)
        if price is None or (prompt_tokens is None and output_tokens is None):
            return None
        cost = ((prompt_tokens or 0) * price.input + (output_tokens or 0) * price.output) / 1e6
        return round(cost, 8)


def parse_prices(text: str | Mapping[str, Any] | None) -> dict[str, ModelPrice]:
    """TRIAGE_LLM_PRICES as prices; ValueError (one line) for anything malformed."""
    if text is None or text == "":
        return {}
    if isinstance(text, str):
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"not JSON ({error.msg} at position {error.pos})") from None
    else:
        raw = text
    if not isinstance(raw, dict):
        raise ValueError('must be a JSON object: {"model": {"input": USD, "output": USD}}')
    return {str(model): _model_price(str(model), entry) for model, entry in raw.items()}


def _model_price(model: str, entry: Any) -> ModelPrice:
    if not isinstance(entry, dict) or not {"input", "output"} <= set(entry):
        raise ValueError(f"{model!r} needs both `input` and `output` (USD per 1M tokens)")
    unknown = set(entry) - {"input", "output"}
    if unknown:
        raise ValueError(f"{model!r} has unknown keys {sorted(unknown)}: only input, output")
    values = []
    for side in ("input", "output"):
        value = entry[side]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{model!r} {side} must be a number, got {value!r}")
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{model!r} {side} must be a finite number >= 0, got {value!r}")
        values.append(float(value))
    return ModelPrice(values[0], values[1])


def price_table(overrides: Mapping[str, ModelPrice] | None = None) -> PriceTable:
    """The built-in prices with `overrides` merged over them."""
    return PriceTable({**DEFAULT_PRICES, **(overrides or {})})
