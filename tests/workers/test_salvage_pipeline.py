"""Salvage, don't stall: a real worker with the Gemini stub answering a bad field or category."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from pipeline.domain.lifecycle import FINAL_STATUSES
from pipeline.settings import ClassifierChoice, Settings
from pipeline.store.tickets import TicketStore
from pipeline.testing.gemini_responses import classification_json, text_response
from pipeline.testing.gemini_stub import GeminiStub, running_stub
from tests.conftest import admin_key
from tests.support.provider_pipeline import Api, provider_pipeline
from tests.support.waiting import wait_for

API_KEY = "stub-gemini-key-not-real"
TICKETS = 6
# With the stage's five retries and backoff up to five minutes, a stall would show at once.
SLOW_RETRIES = {"classify_max_retries": 5, "retry_backoff_max_s": 300}


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
        **SLOW_RETRIES,
    ) as api:
        yield api


def post_all_and_wait(api: tuple[str, TicketStore], count: int) -> tuple[list[str], float]:
    """Post `count` distinct tickets; their ids once all are final, and the seconds it took."""
    url, store = api
    started = time.monotonic()
    with httpx.Client(base_url=url, headers={"X-API-Key": admin_key(store, "salvage")}) as client:
        ids = [
            str(
                client.post(
                    "/tickets",
                    json={
                        "subject": f"Charged twice #{i}",
                        "customer_id": f"cus_{i}",
                        "description": f"Two charges on invoice {i}; mail ann{i}@example.com",
                    },
                ).json()["id"]
            )
            for i in range(count)
        ]
    wait_for(
        lambda: all(store.get(i).status in FINAL_STATUSES for i in ids),
        timeout=30,
        what="every ticket to be final",
    )
    return ids, time.monotonic() - started


def test_an_invalid_language_is_repaired_and_nothing_is_retried(
    gemini_api: tuple[str, TicketStore], stub: GeminiStub
) -> None:
    stub.default = lambda _request: text_response(
        classification_json("billing", language="english")
    )
    ids, seconds = post_all_and_wait(gemini_api, TICKETS)
    store = gemini_api[1]
    for ticket_id in ids:
        ticket = store.get(ticket_id)
        assert (ticket.status, ticket.category, ticket.classifier) == ("done", "billing", "gemini")
        trail = store.audit_trail(ticket_id)
        classified = next(e for e in trail if e.event == "classified")
        assert classified.detail["repaired"] == ["language"]
        assert classified.detail["language"] == "und" and "english" not in str(classified.detail)
        assert "attempt_failed" not in [e.event for e in trail]  # no retry recorded
    assert len(stub.recorded()) == TICKETS  # one request per ticket
    assert seconds < 20


def test_a_category_outside_the_enum_is_retried_once_at_once_then_falls_back(
    gemini_api: tuple[str, TicketStore], stub: GeminiStub
) -> None:
    stub.default = lambda _request: text_response(classification_json("warranty"))
    [ticket_id], seconds = post_all_and_wait(gemini_api, 1)
    store = gemini_api[1]
    ticket = store.get(ticket_id)
    assert (ticket.status, ticket.department, ticket.classifier) == (
        "needs_review",
        "review",
        "local",
    )
    assert "LLM gave no usable answer after 2 attempts" in (ticket.review_reason or "")
    trail = store.audit_trail(ticket_id)
    [failed] = [e for e in trail if e.event == "attempt_failed"]
    assert "warranty" not in str(failed.detail)
    classified = next(e for e in trail if e.event == "classified")
    assert "no usable answer" in classified.detail["fallback"]
    requests = stub.recorded()
    assert len(requests) == 2  # one retry
    assert requests[1].received_at - requests[0].received_at < 3  # at once, not backed off
    assert seconds < 15
