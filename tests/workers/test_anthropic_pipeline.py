"""Claude through the whole pipeline: the real anthropic SDK against our stub, a real worker."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from celery.contrib.testing.worker import start_worker
from pydantic import SecretStr

from ingest_api.app import create_app
from pipeline.domain.lifecycle import FINAL_STATUSES
from pipeline.settings import ClassifierChoice, Settings
from pipeline.store.tickets import TicketStore
from pipeline.testing.anthropic_responses import (
    answer,
    error_response,
    rate_limited,
    tool_use_message,
)
from pipeline.testing.anthropic_stub import AnthropicStub, running_stub
from pipeline.wiring import build_services
from tests.conftest import admin_key
from tests.support.broker import purge_queues
from tests.support.waiting import wait_for
from triage_cli.stub_departments import serve_in_thread
from workers.celery_app import create_celery_app

API_KEY = "sk-ant-stub-key-not-real"


@pytest.fixture
def stub() -> Iterator[AnthropicStub]:
    with running_stub(api_key=API_KEY) as stub:
        yield stub


@pytest.fixture
def anthropic_api(settings: Settings, stub: AnthropicStub) -> Iterator[tuple[str, TicketStore]]:
    claude_settings = settings.model_copy(
        update={
            "classifier": ClassifierChoice.anthropic,
            "anthropic_base_url": stub.url,
            "anthropic_api_key": SecretStr(API_KEY),
            "routing_file": None,  # the default routing: record only
            "classify_max_retries": 2,
            "retry_backoff_max_s": 1,
        }
    )
    services = build_services(claude_settings)
    assert services.classifier.name == "anthropic"
    app = create_celery_app(claude_settings, services=services)
    purge_queues(app, "live", "backfill")
    with (
        start_worker(
            app, pool="threads", concurrency=4, perform_ping_check=False, loglevel="WARNING"
        ),
        serve_in_thread(create_app(claude_settings, store=services.store, celery_app=app)) as url,
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
    classified = next(e for e in store.audit_trail(ticket_id) if e.event == "classified")
    assert classified.detail["provider"] == "anthropic"
    assert classified.detail["model"] == "claude-haiku-4-5"
    assert classified.detail["prompt_version"] == "triage-v1"
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
