"""The Gemini classifier: the generic LLM classifier over the google-genai transport."""

from __future__ import annotations

from collections.abc import Mapping

from google import genai

from pipeline.adapters.decision_cache import build_decision_cache
from pipeline.adapters.llm_budget import LIVE, build_budget
from pipeline.classifiers.gemini.transport import GeminiTransport
from pipeline.classifiers.llm import LLMClassifier
from pipeline.ports import DecisionCache, LLMBudget
from pipeline.settings import Settings


class GeminiClassifier(LLMClassifier):
    """`LLMClassifier` on `GeminiTransport`; budget and cache from settings unless given."""

    transport: GeminiTransport

    def __init__(
        self,
        settings: Settings,
        categories: Mapping[str, str],
        *,
        budget: LLMBudget | None = None,
        cache: DecisionCache | None = None,
        client: genai.Client | None = None,
        queue: str = LIVE,
    ) -> None:
        super().__init__(
            GeminiTransport(settings, client=client),
            categories,
            model=settings.llm_model or settings.gemini_model,
            budget=budget if budget is not None else build_budget(settings),
            cache=cache if cache is not None else build_decision_cache(settings),
            queue=queue,
        )
