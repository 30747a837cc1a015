"""Classifiers from settings: which provider, its key, budget, cache and cost meter."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.domain.errors import ConfigurationError
from pipeline.domain.lifecycle import Queue
from pipeline.domain.routing import RoutingTable
from pipeline.ports import Classifier
from pipeline.settings import LLM_PROVIDERS, PROVIDER_KEY_NAMES, ClassifierChoice, Settings

if TYPE_CHECKING:
    from pipeline.classifiers.cost import CostMeter
    from pipeline.classifiers.llm import LLMClassifier


def llm_key_problem(settings: Settings) -> str | None:
    """What an LLM classifier lacks to call its provider (None: nothing, or no LLM is used).

    Checks the live classifier, the backfill queue's and every provider of TRIAGE_LLM_FALLBACKS.
    """
    provider = settings.llm_provider()
    if provider is not None and not settings.has_credentials(provider):
        choice = settings.effective_classifier().value
        return _key_problem(settings, provider, f"TRIAGE_CLASSIFIER={choice}")
    if settings.backfill_classifier is not None:
        backfill = settings.queue_settings(Queue.backfill.value)
        provider = backfill.llm_provider()
        if provider is not None and not settings.has_credentials(provider):
            choice = settings.backfill_classifier.value
            return _key_problem(settings, provider, f"TRIAGE_BACKFILL_CLASSIFIER={choice}")
    for provider in settings.fallback_providers():
        if provider in LLM_PROVIDERS and not settings.has_credentials(provider):
            chain = f"TRIAGE_LLM_FALLBACKS={settings.llm_fallbacks}"
            return _key_problem(settings, provider, chain)
    return None


def _key_problem(settings: Settings, provider: ClassifierChoice, setting: str) -> str:
    if provider is ClassifierChoice.gemini:
        return (
            f"{setting} needs GEMINI_API_KEY (or GOOGLE_API_KEY, or "
            "TRIAGE_GEMINI_VERTEX_PROJECT with TRIAGE_GEMINI_VERTEX_LOCATION)"
        )
    names = " or ".join(PROVIDER_KEY_NAMES[provider])
    return f"{setting} needs {names} (the {provider.value} provider's key)"


def build_llm_classifier(
    settings: Settings, routing: RoutingTable, meter: CostMeter | None = None
) -> Classifier:
    """The LLM provider's classifier, with the shared budget, decision cache and cost meter."""
    from pipeline.adapters.decision_cache import build_decision_cache
    from pipeline.adapters.llm_budget import build_budget

    categories = routing.category_descriptions()
    budget, cache = build_budget(settings), build_decision_cache(settings)
    provider = settings.llm_provider()
    llm: LLMClassifier
    if provider is ClassifierChoice.openai:
        from pipeline.classifiers.openai import build_openai_classifier

        llm = build_openai_classifier(settings, categories, budget=budget, cache=cache)
    elif provider is ClassifierChoice.anthropic:
        from pipeline.classifiers.anthropic import build_anthropic_classifier

        llm = build_anthropic_classifier(settings, categories, budget=budget, cache=cache)
    else:
        from pipeline.classifiers.gemini.classifier import GeminiClassifier

        llm = GeminiClassifier(settings, categories, budget=budget, cache=cache)
    llm.meter = meter
    return llm


def build_classifier(
    settings: Settings, routing: RoutingTable, local: Classifier, meter: CostMeter | None = None
) -> Classifier:
    """The classifier `TRIAGE_CLASSIFIER` names (`auto`: the first keyed provider, else local)."""
    choice = settings.effective_classifier()
    if choice is ClassifierChoice.local:
        return local
    problem = llm_key_problem(settings)
    if problem is not None:
        raise ConfigurationError(problem)
    llm = build_llm_classifier(settings, routing, meter)
    if choice is not ClassifierChoice.cascade:
        return llm
    from pipeline.classifiers.cascade import CascadeClassifier

    return CascadeClassifier(local, llm, settings.cascade_threshold)
