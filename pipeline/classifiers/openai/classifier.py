"""The OpenAI classifier: the generic LLM classifier over the OpenAI-compatible transport."""

from __future__ import annotations

from collections.abc import Mapping

import openai

from pipeline.adapters.decision_cache import build_decision_cache
from pipeline.adapters.llm_budget import LIVE, build_budget
from pipeline.classifiers.llm import LLMClassifier
from pipeline.classifiers.openai.transport import DEFAULT_MODEL, OpenAITransport
from pipeline.ports import DecisionCache, LLMBudget
from pipeline.settings import Settings


class OpenAIClassifier(LLMClassifier):
    """`LLMClassifier` on `OpenAITransport`; budget and cache from settings unless given."""

    transport: OpenAITransport

    def __init__(
        self,
        settings: Settings,
        categories: Mapping[str, str],
        *,
        budget: LLMBudget | None = None,
        cache: DecisionCache | None = None,
        client: openai.OpenAI | None = None,
        queue: str = LIVE,
    ) -> None:
        super().__init__(
            OpenAITransport(settings, client=client),
            categories,
            model=settings.llm_model or DEFAULT_MODEL,
            budget=budget if budget is not None else build_budget(settings),
            cache=cache if cache is not None else build_decision_cache(settings),
            queue=queue,
        )
