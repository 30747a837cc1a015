"""AnthropicClassifier (the shared LLM classifier) on the real SDK against our stub."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from pipeline.adapters.decision_cache import InMemoryDecisionCache
from pipeline.adapters.llm_budget import build_budget
from pipeline.classifiers.anthropic import AnthropicClassifier, build_anthropic_classifier
from pipeline.classifiers.anthropic.transport import ANSWER_MAX_TOKENS
from pipeline.classifiers.group_prompt import GROUP_PROMPT_VERSION
from pipeline.classifiers.prompt import PROMPT_VERSION
from pipeline.domain.classification import TicketText, Urgency
from pipeline.domain.errors import LLMBadAnswer, LLMRejected, LLMUnavailable
from pipeline.settings import Settings
from pipeline.testing.anthropic_responses import (
    StubResponse,
    answer,
    error_response,
    rate_limited,
    tool_use_message,
)
from pipeline.testing.anthropic_stub import AnthropicStub, running_stub

API_KEY = "sk-ant-TEST-never-log-me-0123456789"
CATEGORIES = {
    "billing": "charges, invoices, refunds of payments",
    "shipping": "parcels, delivery dates, tracking",
    "technical": "the product does not work as documented",
}
TICKET = TicketText(
    id="t-1",
    subject="Charged twice",
    description="Card 4111 1111 1111 1111 was charged twice, write to jane.doe@example.com",
)


@pytest.fixture
def stub() -> Iterator[AnthropicStub]:
    with running_stub(api_key=API_KEY) as server:
        yield server


def make(stub: AnthropicStub, **overrides: Any) -> AnthropicClassifier:
    values: dict[str, Any] = dict(
        anthropic_api_key=API_KEY,
        anthropic_base_url=stub.url,
        anthropic_timeout_s=5.0,
        broker_url="memory://",
        redis_url=None,
    )
    settings = Settings(**(values | overrides))
    return build_anthropic_classifier(
        settings, CATEGORIES, budget=build_budget(settings), cache=InMemoryDecisionCache(600)
    )


def test_success_decides_audits_and_masks_pii(
    stub: AnthropicStub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the SDK's and httpx2's loggers included
    stub.enqueue(tool_use_message(answer("billing", urgency="high", confidence=0.97)))
    classifier = make(stub)
    result = classifier.classify_with_details(TICKET)
    decision, details = result.decision, result.call

    assert (decision.category, decision.urgency, decision.confidence) == (
        "billing",
        Urgency.high,
        0.97,
    )
    assert decision.classifier == "anthropic" == classifier.name
    assert decision.model == f"claude-haiku-4-5/{PROMPT_VERSION}"
    assert details is not None and classifier.last_call == details
    audit = details.as_audit()
    assert (audit["provider"], audit["model"], audit["prompt_version"]) == (
        "anthropic",
        "claude-haiku-4-5",
        PROMPT_VERSION,
    )
    assert (audit["prompt_tokens"], audit["output_tokens"]) == (321, 42)
    assert audit["cache_hit"] is False and audit["latency_ms"] is not None
    assert audit["pii_masked"] == ["card", "email"]

    [request] = stub.recorded()
    assert stub.refused == []  # the stub found no e-mail address or card number, among others
    assert "jane.doe@example.com" not in request.text and "4111" not in request.text
    assert API_KEY not in request.text and API_KEY not in caplog.text
    body = request.body
    assert all(f"- {name}: {text}" in body["system"] for name, text in CATEGORIES.items())
    assert body["messages"][0]["content"].startswith("<ticket>")
    assert body["tools"][0]["input_schema"]["properties"]["category"]["enum"] == list(CATEGORIES)


def test_429_then_success(stub: AnthropicStub) -> None:
    stub.enqueue(rate_limited(3), tool_use_message(answer("shipping")))
    classifier = make(stub)
    with pytest.raises(LLMUnavailable) as caught:
        classifier.classify(TICKET)
    assert caught.value.rate_limited is True and caught.value.retry_after == 3.0
    assert classifier.last_call is not None and "429" in (classifier.last_call.error or "")
    assert classifier.classify(TICKET).category == "shipping"
    assert len(stub.recorded()) == 2


@pytest.mark.parametrize("code", [500, 529])
def test_5xx_then_success(stub: AnthropicStub, code: int) -> None:
    stub.enqueue(error_response(code, "Overloaded"), tool_use_message(answer("technical")))
    classifier = make(stub)
    with pytest.raises(LLMUnavailable, match=str(code)) as caught:
        classifier.classify(TICKET)
    assert caught.value.rate_limited is False
    assert classifier.classify(TICKET).category == "technical"
    assert len(stub.recorded()) == 2


def test_401_fails_at_once(stub: AnthropicStub) -> None:
    classifier = make(stub, anthropic_api_key="sk-ant-revoked-0000")
    with pytest.raises(LLMRejected, match="401 authentication_error") as caught:
        classifier.classify(TICKET)
    assert "sk-ant-revoked" not in str(caught.value)
    assert len(stub.recorded()) == 1


@pytest.mark.parametrize(
    "response",
    [
        StubResponse(body="{not json"),
        tool_use_message("not an object"),
        tool_use_message({"urgency": "high"}),  # category missing (other fields: repaired)
        tool_use_message(answer(smuggled="x") | {"category": None}),  # category not text
    ],
    ids=["body-not-json", "input-not-object", "category-missing", "category-null"],
)
def test_malformed_answers_are_bad_answers_and_not_cached(
    stub: AnthropicStub, response: StubResponse
) -> None:
    stub.enqueue(response)
    classifier = make(stub)
    with pytest.raises(LLMBadAnswer):
        classifier.classify(TICKET)
    assert classifier.classify(TICKET).category == "billing"  # asked again, not cached
    assert len(stub.recorded()) == 2


def test_category_outside_the_enum_is_a_bad_answer(stub: AnthropicStub) -> None:
    stub.enqueue(tool_use_message(answer("warranty")))
    classifier = make(stub)
    with pytest.raises(LLMBadAnswer, match="category"):
        classifier.classify(TICKET)
    assert classifier.last_call is not None
    assert classifier.last_call.error == "answer outside the schema"


def test_cache_hit_sends_nothing_and_model_setting_is_used(stub: AnthropicStub) -> None:
    classifier = make(stub, llm_model="claude-sonnet-4-6")
    first = classifier.classify(TICKET)
    second = classifier.classify_with_details(TICKET)
    assert second.decision == first and second.call is not None and second.call.cache_hit
    [request] = stub.recorded()
    assert request.body["model"] == "claude-sonnet-4-6"
    assert first.model == f"claude-sonnet-4-6/{PROMPT_VERSION}"


def test_grouped_call_sends_the_group_schema_as_the_tool(stub: AnthropicStub) -> None:
    tickets = [
        TicketText(id=f"t{i}", subject=f"parcel {i}", description=f"mail me at a{i}@example.com")
        for i in range(4)
    ]
    stub.enqueue(
        tool_use_message(
            {"results": [{"id": "t0", **answer("shipping")}, {"id": "t2", **answer()}]}
        )
    )
    result = make(stub).classify_group(tickets, queue="backfill")
    assert {k: v.category for k, v in result.decisions.items()} == {
        "t0": "shipping",
        "t2": "billing",
    }
    audit = result.as_audit()
    assert (audit["provider"], audit["prompt_version"]) == ("anthropic", GROUP_PROMPT_VERSION)
    assert (audit["group_size"], audit["answered"]) == (4, 2)
    [request] = stub.recorded()
    assert stub.refused == [] and "example.com" not in request.text
    schema = request.body["tools"][0]["input_schema"]
    assert schema["properties"]["results"]["items"]["properties"]["category"]["enum"] == list(
        CATEGORIES
    )
    assert request.body["max_tokens"] > ANSWER_MAX_TOKENS
    assert json.dumps(schema) == json.dumps(make(stub).group_schema)


def test_stub_default_answers_every_ticket_of_a_group(stub: AnthropicStub) -> None:
    tickets = [TicketText(id=f"g{i}", subject="s", description="d") for i in range(3)]
    result = make(stub).classify_group(tickets, queue="backfill")
    assert sorted(result.decisions) == ["g0", "g1", "g2"]
