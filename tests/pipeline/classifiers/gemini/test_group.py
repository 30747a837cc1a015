"""Grouped classification: one request for many tickets; partial answers leave the rest alone."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from pipeline.adapters.decision_cache import InMemoryDecisionCache
from pipeline.adapters.llm_budget import build_budget
from pipeline.classifiers.gemini.classifier import GeminiClassifier
from pipeline.classifiers.group_prompt import parse_group_answer
from pipeline.domain.classification import TicketText
from pipeline.domain.errors import LLMBadAnswer
from pipeline.settings import Settings
from pipeline.testing.gemini_responses import text_response
from pipeline.testing.gemini_stub import GeminiStub, running_stub

CATEGORIES = {"billing": "charges", "shipping": "parcels", "technical": "bugs"}


def answer(ticket_id: str, category: str = "billing", **extra: object) -> dict[str, object]:
    return {
        "id": ticket_id,
        "category": category,
        "urgency": "normal",
        "language": "en",
        "confidence": 0.9,
        "reason": "r",
        **extra,
    }


def test_parse_keeps_valid_answers_for_known_ids_only() -> None:
    text = json.dumps(
        {
            "results": [
                answer("a"),
                answer("b", category="warranty"),
                answer("zzz"),
                answer("c", bogus=1),
                {"id": "d"},
                answer("a", category="shipping"),
            ]
        }
    )
    parsed = parse_group_answer(text, ["a", "b", "c", "d"], CATEGORIES, "m")
    assert list(parsed) == ["a", "c"] and parsed["a"].category == "billing"  # first answer wins
    # c's unknown key is dropped (a repair); b's category is unusable, d has none.


def test_unparsable_group_answer_is_a_bad_answer() -> None:
    with pytest.raises(LLMBadAnswer):
        parse_group_answer("{not json", ["a"], CATEGORIES, "m")


@pytest.fixture
def stub() -> Iterator[GeminiStub]:
    with running_stub() as server:
        yield server


def test_one_request_for_the_group_and_a_partial_answer(stub: GeminiStub) -> None:
    settings = Settings(
        gemini_api_key="k", gemini_base_url=stub.url, broker_url="memory://", redis_url=None
    )
    gemini = GeminiClassifier(
        settings, CATEGORIES, budget=build_budget(settings), cache=InMemoryDecisionCache(60)
    )
    tickets = [
        TicketText(id=f"t{i}", subject=f"s{i}", description=f"call +44 20 7946 012{i}")
        for i in range(5)
    ]
    stub.enqueue(text_response(json.dumps({"results": [answer("t0"), answer("t3", "shipping")]})))

    result = gemini.classify_group(tickets, queue="backfill")
    answers, details = result.decisions, result.as_audit()

    assert {k: v.category for k, v in answers.items()} == {"t0": "billing", "t3": "shipping"}
    assert (details["group_size"], details["answered"]) == (5, 2)
    [request] = stub.recorded()
    contents = "".join(part["text"] for part in request.body["contents"][0]["parts"])
    assert all(f'id="t{i}"' in contents for i in range(5))
    assert "7946" not in request.text  # every phone number masked
    schema = request.body["generationConfig"].get("responseSchema") or request.body[
        "generationConfig"
    ].get("response_schema")
    assert "results" in json.dumps(schema)
