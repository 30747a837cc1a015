"""Gemini through the whole pipeline: the real SDK against our stub, a real worker, the store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from celery.contrib.testing.worker import start_worker
from pydantic import SecretStr

from ingest_api.app import create_app
from pipeline.domain.lifecycle import FINAL_STATUSES
from pipeline.settings import ClassifierChoice, Settings
from pipeline.store.tickets import TicketStore
from pipeline.testing.gemini_responses import classification_json, error_response, text_response
from pipeline.testing.gemini_stub import GeminiStub, running_stub
from pipeline.wiring import build_services
from tests.conftest import admin_key
from tests.support.broker import purge_queues
from tests.support.waiting import wait_for
from triage_cli.stub_departments import serve_in_thread
from workers.celery_app import create_celery_app

API_KEY = "stub-gemini-key-not-real"


@pytest.fixture
def stub() -> Iterator[GeminiStub]:
    with running_stub() as stub:
        yield stub


@pytest.fixture
def gemini_api(
    settings: Settings, stub: GeminiStub, tmp_path: Path
) -> Iterator[tuple[str, TicketStore]]:
    gemini_settings = settings.model_copy(
        update={
            "classifier": ClassifierChoice.gemini,
            "gemini_base_url": stub.url,
            "gemini_api_key": SecretStr(API_KEY),
            "routing_file": None,  # the default routing: record only
            "classify_max_retries": 2,
            "retry_backoff_max_s": 1,
        }
    )
    services = build_services(gemini_settings)
    assert services.classifier.name == "gemini"
    app = create_celery_app(gemini_settings, services=services)
    purge_queues(app, "live", "backfill")
    with (
        start_worker(
            app, pool="threads", concurrency=4, perform_ping_check=False, loglevel="WARNING"
        ),
        serve_in_thread(create_app(gemini_settings, store=services.store, celery_app=app)) as url,
    ):
        yield url, services.store


def post_and_wait(api: tuple[str, TicketStore], body: dict[str, str]) -> str:
    url, store = api
    with httpx.Client(
        base_url=url, headers={"X-API-Key": admin_key(store, "k" + body["subject"][:8])}
    ) as client:
        ticket_id = str(client.post("/tickets", json=body).json()["id"])
    wait_for(
        lambda: store.get(ticket_id).status in FINAL_STATUSES,
        timeout=30,
        what="the ticket to be final",
    )
    return ticket_id


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
    classified = next(e for e in store.audit_trail(ticket_id) if e.event == "classified")
    assert classified.detail["provider"] == "gemini"
    assert classified.detail["prompt_version"] == "triage-v1"
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
