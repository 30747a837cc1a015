"""Claude through the whole pipeline: the real anthropic SDK against our stub, a real worker."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from pipeline.settings import ClassifierChoice, Settings
from pipeline.store.tickets import TicketStore
from pipeline.testing.anthropic_responses import (
    answer,
    error_response,
    rate_limited,
    tool_use_message,
)
from pipeline.testing.anthropic_stub import AnthropicStub, running_stub
from tests.support.provider_pipeline import QUICK_RETRIES, Api, post_and_wait, provider_pipeline

API_KEY = "sk-ant-stub-key-not-real"


@pytest.fixture
def stub() -> Iterator[AnthropicStub]:
    with running_stub(api_key=API_KEY) as stub:
        yield stub


@pytest.fixture
def anthropic_api(settings: Settings, stub: AnthropicStub) -> Iterator[Api]:
    with provider_pipeline(
        settings,
        "anthropic",
        classifier=ClassifierChoice.anthropic,
        anthropic_base_url=stub.url,
        anthropic_api_key=SecretStr(API_KEY),
        **QUICK_RETRIES,
    ) as api:
        yield api


TICKET = {
    "subject": "Charged twice",
    "customer_id": "cus_1",
    "description": "Two charges on card 4111 1111 1111 1111; reach me at jane.doe@example.com",
}


def test_claude_decides_and_the_audit_records_the_call(
    anthropic_api: tuple[str, TicketStore], stub: AnthropicStub
) -> None:
    stub.enqueue(tool_use_message(answer("billing", confidence=0.97)))
    ticket_id = post_and_wait(anthropic_api, TICKET)
    store = anthropic_api[1]
    ticket = store.get(ticket_id)
    assert (ticket.status, ticket.category, ticket.classifier) == ("done", "billing", "anthropic")
    # The stub answers sentiment and per-field confidences: kept as answered.
    assert (ticket.sentiment, ticket.sentiment_confidence, ticket.urgency_confidence) == (
        "negative",
        0.75,
        0.8,
    )
    classified = next(e for e in store.audit_trail(ticket_id) if e.event == "classified")
    assert classified.detail["provider"] == "anthropic"
    assert classified.detail["model"] == "claude-haiku-4-5"
    assert classified.detail["prompt_version"] == "triage-v2"
    assert (classified.detail["prompt_tokens"], classified.detail["output_tokens"]) == (321, 42)
    assert classified.detail["pii_masked"] == ["card", "email"]
    [request] = stub.recorded()
    assert stub.refused == []
    assert "jane.doe@example.com" not in request.text and "4111" not in request.text
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert API_KEY not in json.dumps([e.detail for e in store.audit_trail(ticket_id)])


def test_429_and_529_then_success(
    anthropic_api: tuple[str, TicketStore], stub: AnthropicStub
) -> None:
    stub.enqueue(
        rate_limited(0),
        error_response(529, "Overloaded"),
        tool_use_message(answer("refund")),
    )
    ticket_id = post_and_wait(anthropic_api, {**TICKET, "subject": "Refund 429"})
    store = anthropic_api[1]
    assert store.get(ticket_id).category == "refund"
    events = [e.event for e in store.audit_trail(ticket_id)]
    assert events.count("attempt_failed") == 2
    assert len(stub.recorded()) == 3


def test_401_fails_at_once_with_a_clear_audit_event(
    anthropic_api: tuple[str, TicketStore], stub: AnthropicStub
) -> None:
    stub.api_key = "sk-ant-rotated"  # our key is no longer valid
    ticket_id = post_and_wait(anthropic_api, {**TICKET, "subject": "Bad key"})
    store = anthropic_api[1]
    assert store.get(ticket_id).status == "failed"
    failed = store.audit_trail(ticket_id)[-1]
    assert failed.event == "failed" and failed.detail["permanent"] is True
    assert "401" in failed.detail["error"] and API_KEY not in failed.detail["error"]
    assert len(stub.recorded()) == 1
