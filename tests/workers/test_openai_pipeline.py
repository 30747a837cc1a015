"""The openai provider through the whole pipeline: the real SDK against our stub, a real worker."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from pipeline.settings import ClassifierChoice, Settings
from pipeline.store.tickets import TicketStore
from pipeline.testing.gemini_responses import classification_json
from pipeline.testing.openai_responses import completion_response, error_response, rate_limited
from pipeline.testing.openai_stub import OpenAIStub, running_stub
from tests.support.provider_pipeline import QUICK_RETRIES, Api, post_and_wait, provider_pipeline

API_KEY = "sk-stub-openai-key-not-real"


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with running_stub(api_key=API_KEY) as stub:
        yield stub


@pytest.fixture
def openai_api(
    request: pytest.FixtureRequest, settings: Settings, stub: OpenAIStub
) -> Iterator[Api]:
    with provider_pipeline(
        settings,
        "openai",
        classifier=ClassifierChoice.openai,
        openai_base_url=stub.url,
        openai_api_key=SecretStr(API_KEY),
        # json_schema unless a test asks for JSON mode (`indirect` parametrisation)
        openai_response_format=getattr(request, "param", "json_schema"),
        **QUICK_RETRIES,
    ) as api:
        yield api


TICKET = {
    "subject": "Charged twice",
    "customer_id": "cus_1",
    "description": "Two charges on card 4111 1111 1111 1111; reach me at jane.doe@example.com",
}


@pytest.mark.parametrize("openai_api", ["json_schema", "json_object"], indirect=True)
def test_openai_decides_and_the_audit_records_the_call(
    openai_api: tuple[str, TicketStore], stub: OpenAIStub
) -> None:
    stub.enqueue(completion_response(classification_json("billing", confidence=0.97)))
    ticket_id = post_and_wait(openai_api, TICKET)
    store = openai_api[1]
    ticket = store.get(ticket_id)
    assert (ticket.status, ticket.category, ticket.classifier) == ("done", "billing", "openai")
    # The stub answers sentiment and per-field confidences: kept as answered.
    assert (ticket.sentiment, ticket.sentiment_confidence, ticket.urgency_confidence) == (
        "negative",
        0.75,
        0.8,
    )
    classified = next(e for e in store.audit_trail(ticket_id) if e.event == "classified")
    detail = classified.detail
    assert (detail["provider"], detail["model"], detail["prompt_version"]) == (
        "openai",
        "gpt-4.1-mini",
        "triage-v2",
    )
    assert (detail["prompt_tokens"], detail["output_tokens"]) == (321, 42)
    assert detail["latency_ms"] is not None and detail["cache_hit"] is False
    assert detail["pii_masked"] == ["card", "email"]
    [request] = stub.recorded()
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert "jane.doe@example.com" not in request.text and "4111" not in request.text
    assert stub.problems == []
    assert API_KEY not in json.dumps([e.detail for e in store.audit_trail(ticket_id)])


def test_429_then_success(openai_api: tuple[str, TicketStore], stub: OpenAIStub) -> None:
    stub.enqueue(
        rate_limited(retry_after="0", reset_requests="0s"),
        completion_response(classification_json("refund")),
    )
    ticket_id = post_and_wait(openai_api, {**TICKET, "subject": "Refund 429"})
    store = openai_api[1]
    assert store.get(ticket_id).category == "refund"
    assert [e.event for e in store.audit_trail(ticket_id)].count("attempt_failed") == 1
    assert len(stub.recorded()) == 2


def test_category_outside_the_enum_ends_in_review(
    openai_api: tuple[str, TicketStore], stub: OpenAIStub
) -> None:
    stub.default = lambda _request: completion_response(classification_json("warranty"))
    ticket_id = post_and_wait(openai_api, {**TICKET, "subject": "Unknown category"})
    ticket = openai_api[1].get(ticket_id)
    assert (ticket.status, ticket.department) == ("needs_review", "review")
    assert len(stub.recorded()) == 2  # a bad answer is retried once, at once


def test_401_fails_at_once_with_a_clear_audit_event(
    openai_api: tuple[str, TicketStore], stub: OpenAIStub
) -> None:
    stub.enqueue(error_response(401, "Incorrect API key provided: sk-***.", code="invalid_api_key"))
    ticket_id = post_and_wait(openai_api, {**TICKET, "subject": "Bad key"})
    store = openai_api[1]
    assert store.get(ticket_id).status == "failed"
    failed = store.audit_trail(ticket_id)[-1]
    assert failed.event == "failed" and failed.detail["permanent"] is True
    assert "401" in failed.detail["error"]
    assert len(stub.recorded()) == 1
