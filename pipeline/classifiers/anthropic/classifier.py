"""The Anthropic classifier: the generic LLM classifier over the anthropic-SDK transport."""

from __future__ import annotations

from collections.abc import Mapping

import anthropic

from pipeline.adapters.decision_cache import build_decision_cache
from pipeline.adapters.llm_budget import LIVE, build_budget
from pipeline.classifiers.anthropic.transport import DEFAULT_MODEL, AnthropicTransport
from pipeline.classifiers.llm import LLMClassifier
from pipeline.ports import DecisionCache, LLMBudget
from pipeline.settings import Settings


class AnthropicClassifier(LLMClassifier):
    """`LLMClassifier` on `AnthropicTransport`; budget and cache from settings unless given."""

    transport: AnthropicTransport

    def __init__(
        self,
        settings: Settings,
        categories: Mapping[str, str],
        *,
        budget: LLMBudget | None = None,
        cache: DecisionCache | None = None,
        client: anthropic.Anthropic | None = None,
        queue: str = LIVE,
    ) -> None:
        super().__init__(
            AnthropicTransport(settings, client=client),
            categories,
            model=settings.llm_model or DEFAULT_MODEL,
            budget=budget if budget is not None else build_budget(settings),
            cache=cache if cache is not None else build_decision_cache(settings),
            queue=queue,
        )


def build_anthropic_classifier(
    settings: Settings,
    categories: Mapping[str, str],
    *,
    budget: LLMBudget,
    cache: DecisionCache,
) -> AnthropicClassifier:
    """The `anthropic` provider's classifier (called by `pipeline.wiring`)."""
    return AnthropicClassifier(settings, categories, budget=budget, cache=cache)
