"""OpenAIClassifier on the real `openai` SDK against the stub, in both response formats."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from pipeline.classifiers.openai import build_openai_classifier
from pipeline.classifiers.prompt import PROMPT_VERSION
from pipeline.domain.classification import TicketText, Urgency
from pipeline.domain.errors import ConfigurationError, LLMBadAnswer, LLMRejected, LLMUnavailable
from pipeline.domain.routing import load_routing
from pipeline.settings import ClassifierChoice
from pipeline.testing.gemini_responses import classification_json
from pipeline.testing.openai_responses import completion_response, rate_limited, server_error
from pipeline.testing.openai_stub import OpenAIStub
from pipeline.wiring import build_classifier
from tests.conftest import EXAMPLE_ROUTING
from tests.pipeline.classifiers.openai.support import (
    API_KEY,
    CATEGORIES,
    make,
    messages,
    openai_settings,
)

FORMATS = pytest.mark.parametrize("response_format", ["json_schema", "json_object"])
TICKET = TicketText(
    id="t-1",
    subject="Charged twice",
    description="My card 4111 1111 1111 1111 was charged twice; write to jane.doe@example.com",
)


@FORMATS
def test_success_masks_pii_and_records_the_call(
    stub: OpenAIStub, response_format: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the SDK's and httpx2's loggers included
    stub.enqueue(completion_response(classification_json("billing", urgency="high")))
    classifier = make(stub, openai_response_format=response_format)
    result = classifier.classify_with_details(TICKET)
    decision, call = result.decision, result.call
    assert (decision.category, decision.urgency, decision.classifier) == (
        "billing",
        Urgency.high,
        "openai",
    )
    assert decision.model == classifier.model_version == f"gpt-4.1-mini/{PROMPT_VERSION}"
    assert call is not None and call.provider == "openai" and call.model == "gpt-4.1-mini"
    assert (call.prompt_tokens, call.output_tokens) == (321, 42) and call.latency_ms is not None
    assert call.pii_masked == ("card", "email") and call.cache_hit is False
    [request] = stub.recorded()
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert "jane.doe@example.com" not in request.text and "4111" not in request.text
    assert stub.problems == []  # no personal data, a strict schema, JSON named in JSON mode
    system, user = messages(request)["system"], messages(request)["user"]
    assert all(f"- {name}: {text}" in system for name, text in CATEGORIES.items())
    assert user.startswith("<ticket>") and "[email]" in user
    assert API_KEY not in caplog.text


@FORMATS
def test_the_model_setting_names_the_model(stub: OpenAIStub, response_format: str) -> None:
    classifier = make(stub, llm_model="qwen2.5:7b", openai_response_format=response_format)
    assert classifier.classify(TICKET).model == f"qwen2.5:7b/{PROMPT_VERSION}"
    assert stub.recorded()[0].body["model"] == "qwen2.5:7b"


def test_a_repeated_ticket_is_answered_from_the_cache(stub: OpenAIStub) -> None:
    classifier = make(stub)
    classifier.classify(TICKET)
    assert classifier.classify_with_details(TICKET).call.cache_hit is True  # type: ignore[union-attr]
    assert len(stub.recorded()) == 1


@FORMATS
def test_429_then_success_and_5xx_then_success(stub: OpenAIStub, response_format: str) -> None:
    stub.enqueue(rate_limited(retry_after="1"), server_error(502))
    classifier = make(stub, openai_response_format=response_format)
    with pytest.raises(LLMUnavailable) as first:
        classifier.classify(TICKET)
    assert first.value.rate_limited and first.value.retry_after == 1.0
    with pytest.raises(LLMUnavailable) as second:
        classifier.classify(TICKET)
    assert not second.value.rate_limited
    assert classifier.classify(TICKET).category == "billing"
    assert len(stub.recorded()) == 3


@FORMATS
@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        classification_json("warranty"),  # outside the enum
        json.dumps({**json.loads(classification_json()), "category": None}),  # no category
        "Sure! Here is the JSON you asked for.",
    ],
)
def test_answers_outside_the_schema_are_bad_answers(
    stub: OpenAIStub, response_format: str, text: str
) -> None:
    stub.enqueue(completion_response(text))
    classifier = make(stub, openai_response_format=response_format)
    with pytest.raises(LLMBadAnswer):
        classifier.classify(TICKET)
    assert classifier.last_call is not None and classifier.last_call.error
    classifier.classify(TICKET)  # nothing was cached: the next call asks again
    assert len(stub.recorded()) == 2


def test_a_refusal_is_rejected_and_audited_as_blocked(stub: OpenAIStub) -> None:
    stub.enqueue(completion_response(None, refusal="I cannot help with that."))
    classifier = make(stub)
    with pytest.raises(LLMRejected, match="refused"):
        classifier.classify(TICKET)
    assert classifier.last_call is not None and classifier.last_call.error == "blocked"


def test_401_fails_at_once(stub: OpenAIStub) -> None:
    classifier = make(stub, openai_api_key="sk-not-the-right-one-1234")
    with pytest.raises(LLMRejected, match="401"):
        classifier.classify(TICKET)
    assert len(stub.recorded()) == 1


@FORMATS
def test_grouped_call_answers_every_ticket(stub: OpenAIStub, response_format: str) -> None:
    tickets = [
        TicketText(id="a", subject="billing question", description="mail x@example.org"),
        TicketText(id="b", subject="shipping late", description="where is it"),
    ]
    result = make(stub, openai_response_format=response_format).classify_group(tickets)
    assert {k: v.category for k, v in result.decisions.items()} == {
        "a": "billing",
        "b": "shipping",
    }
    assert result.call is not None and result.call.provider == "openai"
    [request] = stub.recorded()
    assert stub.problems == [] and "x@example.org" not in request.text
    if response_format == "json_schema":
        spec = request.body["response_format"]["json_schema"]
        assert spec["name"] == "triage_group_answer"
        assert spec["schema"]["properties"]["results"]["items"]["additionalProperties"] is False


def test_build_classifier_picks_openai_and_refuses_without_a_key(
    monkeypatch: pytest.MonkeyPatch, stub: OpenAIStub
) -> None:
    routing = load_routing(EXAMPLE_ROUTING)
    settings = openai_settings(stub.url, classifier=ClassifierChoice.openai)
    classifier: Any = build_classifier(settings, routing, local=None)  # type: ignore[arg-type]
    assert classifier.name == "openai" and classifier.model == "gpt-4.1-mini"
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    keyless = settings.model_copy(update={"openai_api_key": None})
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        build_classifier(keyless, routing, local=None)  # type: ignore[arg-type]
    assert build_openai_classifier(settings, CATEGORIES).name == "openai"
