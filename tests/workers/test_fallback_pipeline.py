"""The fallback chain and the monthly cap through a real worker, on the providers' stub servers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from pipeline.settings import ClassifierChoice, Settings
from pipeline.testing.gemini_responses import classification_json, error_response, text_response
from pipeline.testing.gemini_stub import GeminiStub
from pipeline.testing.gemini_stub import running_stub as running_gemini
from pipeline.testing.openai_responses import completion_response
from pipeline.testing.openai_stub import OpenAIStub
from pipeline.testing.openai_stub import running_stub as running_openai
from tests.support.provider_pipeline import QUICK_RETRIES, post_and_wait, provider_pipeline

GEMINI_KEY = "stub-gemini-key-not-real"
OPENAI_KEY = "sk-stub-openai-key-not-real"
TICKET = {"subject": "Charged twice", "customer_id": "cus_1", "description": "Two charges"}


def rate_limited_forever(_request: object) -> object:
    return error_response(429, "RESOURCE_EXHAUSTED", "quota per minute", retry_delay="0s")


@pytest.fixture
def gemini_429() -> Iterator[GeminiStub]:
    with running_gemini(rate_limited_forever) as stub:  # type: ignore[arg-type]
        yield stub


@pytest.fixture
def gemini() -> Iterator[GeminiStub]:
    with running_gemini() as stub:
        yield stub


@pytest.fixture
def openai() -> Iterator[OpenAIStub]:
    with running_openai(api_key=OPENAI_KEY) as stub:
        yield stub


def gemini_settings(stub: GeminiStub) -> dict[str, object]:
    return {
        "classifier": ClassifierChoice.gemini,
        "gemini_base_url": stub.url,
        "gemini_api_key": SecretStr(GEMINI_KEY),
        **QUICK_RETRIES,
    }


def test_gemini_rate_limited_past_its_retries_openai_answers(
    settings: Settings, gemini_429: GeminiStub, openai: OpenAIStub
) -> None:
    openai.enqueue(completion_response(classification_json("billing", confidence=0.97)))
    with provider_pipeline(
        settings,
        "gemini",
        **gemini_settings(gemini_429),
        llm_fallbacks="openai,local",
        openai_base_url=openai.url,
        openai_api_key=SecretStr(OPENAI_KEY),
    ) as api:
        ticket_id = post_and_wait(api, TICKET)
        store = api[1]

    ticket = store.get(ticket_id)
    assert (ticket.status, ticket.category, ticket.classifier) == ("done", "billing", "openai")
    assert ticket.review_reason is None  # an LLM answered: no review forced
    detail = next(e for e in store.audit_trail(ticket_id) if e.event == "classified").detail
    assert detail["answered_by"] == "openai" and detail["provider"] == "openai"
    [failed] = detail["fallback_from"]
    assert (failed["provider"], failed["model"]) == ("gemini", "gemini-2.5-flash")
    assert failed["error"].startswith("LLMUnavailable") and "429" in failed["error"]
    # gpt-4.1-mini: 321 tokens in at $0.40/1M, 42 out at $1.60/1M.
    assert detail["cost_usd"] == pytest.approx((321 * 0.40 + 42 * 1.60) / 1e6)
    assert len(gemini_429.recorded()) == 1 + QUICK_RETRIES["classify_max_retries"]
    assert len(openai.recorded()) == 1 and openai.problems == []


def test_past_the_monthly_cap_local_answers_and_readyz_says_so(
    settings: Settings, gemini: GeminiStub
) -> None:
    # gemini-2.5-flash: 321 in, 42 out = $0.0002013; the first call uses up the cap.
    gemini.enqueue(text_response(classification_json("billing", confidence=0.97)))
    with provider_pipeline(
        settings, "gemini", **gemini_settings(gemini), llm_monthly_budget=0.0002
    ) as api:
        first = post_and_wait(api, TICKET)
        second = post_and_wait(api, {**TICKET, "subject": "Another charge"})
        ready = httpx.get(f"{api[0]}/readyz")
        store = api[1]

    assert store.get(first).classifier == "gemini"
    ticket = store.get(second)
    assert (ticket.status, ticket.classifier) == ("needs_review", "local")
    detail = next(e for e in store.audit_trail(second) if e.event == "classified").detail
    [failed] = detail["fallback_from"]
    assert failed["provider"] == "gemini" and "monthly budget reached" in failed["error"]
    assert "quota exhausted" in detail["fallback"]
    assert len(gemini.recorded()) == 1  # the second ticket never reached the provider
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["degraded"] == ["llm_budget"]
    assert body["checks"]["llm_budget"]["degraded"] is True
    assert "monthly budget reached" in body["checks"]["llm_budget"]["message"]
