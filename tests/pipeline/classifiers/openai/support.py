"""Helpers: classifiers on the real `openai` SDK pointed at the stub OpenAI API."""

from __future__ import annotations

from typing import Any

from pipeline.adapters.decision_cache import InMemoryDecisionCache
from pipeline.adapters.llm_budget import build_budget
from pipeline.classifiers.openai.classifier import OpenAIClassifier
from pipeline.settings import Settings
from pipeline.testing.gemini_responses import RecordedRequest
from pipeline.testing.openai_stub import OpenAIStub

API_KEY = "sk-test-never-log-me-0123456789"
CATEGORIES = {
    "billing": "charges, invoices, refunds of payments",
    "shipping": "parcels, delivery dates, tracking",
    "technical": "the product does not work as documented",
}


def openai_settings(base_url: str | None, **overrides: Any) -> Settings:
    """Settings for the openai provider on the stub (no Redis: in-process budget)."""
    values: dict[str, Any] = dict(
        openai_api_key=API_KEY,
        openai_base_url=base_url,
        openai_timeout_s=5.0,
        broker_url="memory://",
        redis_url=None,
        llm_cache_ttl_s=600,
    )
    values.update(overrides)
    return Settings(**values)


def make(stub: OpenAIStub, **overrides: Any) -> OpenAIClassifier:
    """A classifier on the stub with a fresh cache."""
    settings = openai_settings(stub.url, **overrides)
    return OpenAIClassifier(
        settings, CATEGORIES, budget=build_budget(settings), cache=InMemoryDecisionCache(600)
    )


def messages(request: RecordedRequest) -> dict[str, str]:
    """role → content of a recorded chat-completion request."""
    return {m["role"]: m["content"] for m in request.body["messages"]}
