"""OpenAI and every OpenAI-compatible server (Azure OpenAI, vLLM, Ollama, LM Studio, LiteLLM)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from pipeline.ports import DecisionCache, LLMBudget
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.classifiers.openai.classifier import OpenAIClassifier


def build_openai_classifier(
    settings: Settings,
    categories: Mapping[str, str],
    *,
    budget: LLMBudget | None = None,
    cache: DecisionCache | None = None,
) -> OpenAIClassifier:
    """The `openai` provider's classifier (the SDK is imported only when it is chosen)."""
    from pipeline.classifiers.openai.classifier import OpenAIClassifier

    return OpenAIClassifier(settings, categories, budget=budget, cache=cache)
