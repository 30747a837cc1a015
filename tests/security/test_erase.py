"""Class 1: an erasure ends and is bounded, whatever value it is asked to erase."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from pipeline.domain.operator import ERASED
from tests.security.conftest import LiveApi, start_live_api

# What the system itself writes: the erasure marker and the tokens PII masking leaves, plus
# look-alikes a selection might confuse with them.
SYSTEM_WRITTEN = [
    ERASED,
    "[email]",
    "[phone]",
    "[card]",
    "[iban]",
    "[address]",
    "[name]",
    "[ERASED]",
    " [erased] ",  # ingest strips it: the erasure must find it as stored
    "%",
    "_",
]


@pytest.fixture
def client(live_api: LiveApi) -> httpx.Client:
    return httpx.Client(
        base_url=live_api.base_url, headers={"X-API-Key": live_api.admin_key}, timeout=30
    )


def erase(client: httpx.Client, customer_id: str) -> httpx.Response:
    return client.delete(f"/customers/{quote(customer_id, safe='')}/data")


def test_erasing_every_value_the_system_writes_ends(client: httpx.Client) -> None:
    # Leave tombstones first: their customer_id is the marker itself.
    for i in range(3):
        body = {"subject": "s", "description": "d", "customer_id": f"gone-{i}"}
        assert client.post("/tickets", json=body).status_code == 202
        assert erase(client, f"gone-{i}").json()["tickets_erased"] == 1

    for value in SYSTEM_WRITTEN:
        body = {"subject": "mine", "description": "call +44 20 7946 0000", "customer_id": value}
        assert client.post("/tickets", json=body).status_code == 202, value
        first = erase(client, value)  # before the fix: never answered for "[erased]"
        assert first.status_code == 200, (value, first.text)
        assert first.json() == {"customer_id": value, "tickets_erased": 1, "complete": True}
        again = erase(client, value)
        assert again.json() == {"customer_id": value, "tickets_erased": 0, "complete": True}


def test_an_id_no_ticket_can_carry_is_erased_at_once(client: httpx.Client) -> None:
    answer = erase(client, "a\x00b")  # PostgreSQL text cannot hold NUL: not a store outage
    assert answer.status_code in (200, 400), answer.text  # 400: refused at the door
    assert answer.json()["error" if answer.status_code == 400 else "tickets_erased"] is not None


def test_a_big_erasure_answers_202_with_progress_then_200(tmp_path: Path) -> None:
    with start_live_api(tmp_path, extra_env={"TRIAGE_ERASE_REQUEST_LIMIT": "2"}) as api:
        client = httpx.Client(
            base_url=api.base_url, headers={"X-API-Key": api.admin_key}, timeout=30
        )
        for i in range(5):
            body = {"subject": f"s{i}", "description": "d", "customer_id": ERASED}
            assert client.post("/tickets", json=body).status_code == 202
        answers = [erase(client, ERASED) for _ in range(3)]
        assert [(a.status_code, a.json()["tickets_erased"]) for a in answers] == [
            (202, 2),
            (202, 2),
            (200, 1),
        ]
        assert answers[0].headers["Retry-After"] == "0"
        assert answers[0].json()["complete"] is False
