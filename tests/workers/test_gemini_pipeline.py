"""Gemini through the whole pipeline: the real SDK against our stub, a real worker, the store."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from pipeline.settings import ClassifierChoice, Settings
from pipeline.store.tickets import TicketStore
from pipeline.testing.gemini_responses import classification_json, error_response, text_response
from pipeline.testing.gemini_stub import GeminiStub, running_stub
from tests.support.provider_pipeline import QUICK_RETRIES, Api, post_and_wait, provider_pipeline

API_KEY = "stub-gemini-key-not-real"


@pytest.fixture
def stub() -> Iterator[GeminiStub]:
    with running_stub() as stub:
        yield stub


@pytest.fixture
def gemini_api(settings: Settings, stub: GeminiStub) -> Iterator[Api]:
    with provider_pipeline(
        settings,
        "gemini",
        classifier=ClassifierChoice.gemini,
        gemini_base_url=stub.url,
        gemini_api_key=SecretStr(API_KEY),
        **QUICK_RETRIES,
    ) as api:
        yield api


TICKET = {
    "subject": "Charged twice",
    "customer_id": "cus_1",
    "description": "Two charges on my card; reach me at jane.doe@example.com",
}


def test_gemini_decides_and_the_audit_records_the_call(
    gemini_api: tuple[str, TicketStore], stub: GeminiStub
) -> None:
    stub.enqueue(text_response(classification_json("billing", confidence=0.97)))
    ticket_id = post_and_wait(gemini_api, TICKET)
    store = gemini_api[1]
    ticket = store.get(ticket_id)
    assert (ticket.status, ticket.category, ticket.classifier) == ("done", "billing", "gemini")
    # The stub answers sentiment and per-field confidences: kept as answered.
    assert (ticket.sentiment, ticket.sentiment_confidence, ticket.urgency_confidence) == (
        "negative",
        0.75,
        0.8,
    )
    classified = next(e for e in store.audit_trail(ticket_id) if e.event == "classified")
    assert classified.detail["provider"] == "gemini"
    assert classified.detail["prompt_version"] == "triage-v2"
    assert classified.detail["prompt_tokens"] == 321 and classified.detail["cache_hit"] is False
    assert classified.detail["pii_masked"] == ["email"]
    [request] = stub.recorded()
    assert "jane.doe@example.com" not in request.text
    assert request.headers.get("x-goog-api-key") == API_KEY
    assert API_KEY not in json.dumps([e.detail for e in store.audit_trail(ticket_id)])


def test_429_twice_then_success(gemini_api: tuple[str, TicketStore], stub: GeminiStub) -> None:
    stub.enqueue(
        error_response(429, "RESOURCE_EXHAUSTED", retry_delay="0s"),
        error_response(429, "RESOURCE_EXHAUSTED", retry_delay="0s"),
        text_response(classification_json("refund")),
    )
    ticket_id = post_and_wait(gemini_api, {**TICKET, "subject": "Refund 429"})
    store = gemini_api[1]
    assert store.get(ticket_id).category == "refund"
    events = [e.event for e in store.audit_trail(ticket_id)]
    assert events.count("attempt_failed") == 2
    assert len(stub.recorded()) == 3


def test_bad_answers_exhaust_retries_then_fall_back_to_review(
    gemini_api: tuple[str, TicketStore], stub: GeminiStub
) -> None:
    stub.default = lambda _request: text_response("{not json")
    ticket_id = post_and_wait(gemini_api, {**TICKET, "subject": "Malformed answers"})
    store = gemini_api[1]
    ticket = store.get(ticket_id)
    assert (ticket.status, ticket.department, ticket.classifier) == (
        "needs_review",
        "review",
        "local",
    )
    # A bad answer is retried once, at once (not the stage's retries with backoff).
    assert "LLM gave no usable answer after 2 attempts" in (ticket.review_reason or "")
    assert len(stub.recorded()) == 2


def test_400_fails_at_once_with_a_clear_audit_event(
    gemini_api: tuple[str, TicketStore], stub: GeminiStub
) -> None:
    stub.enqueue(error_response(400, "INVALID_ARGUMENT", "bad request"))
    ticket_id = post_and_wait(gemini_api, {**TICKET, "subject": "Bad request"})
    store = gemini_api[1]
    assert store.get(ticket_id).status == "failed"
    failed = store.audit_trail(ticket_id)[-1]
    assert failed.event == "failed" and failed.detail["permanent"] is True
    assert "400" in failed.detail["error"]
    assert len(stub.recorded()) == 1
