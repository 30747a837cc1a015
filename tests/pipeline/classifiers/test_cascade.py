"""Cascade: the local answer when sure, the LLM (real SDK, stub server) only when not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline.adapters.decision_cache import InMemoryDecisionCache
from pipeline.adapters.llm_budget import build_budget
from pipeline.classifiers.cascade import CascadeClassifier
from pipeline.classifiers.gemini.classifier import GeminiClassifier
from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.classification import Classification, TicketText, Urgency
from pipeline.domain.errors import LLMUnavailable
from pipeline.ports import Classifier
from pipeline.settings import Settings
from pipeline.testing.gemini_responses import error_response
from pipeline.testing.gemini_stub import GeminiStub, running_stub

CATEGORIES = {"billing": "charges and invoices", "shipping": "parcels and delivery"}


def local_decision(ticket: TicketText) -> Classification:
    """Sure about parcels, unsure about anything else."""
    sure = "parcel" in ticket.description
    return Classification(
        category="shipping" if sure else "billing",
        urgency=Urgency.low,
        language="en",
        confidence=0.95 if sure else 0.4,
        classifier="local",
        model="local-1",
    )


@pytest.fixture
def stub() -> Iterator[GeminiStub]:
    with running_stub() as server:
        yield server


@pytest.fixture
def cascade(stub: GeminiStub) -> CascadeClassifier:
    settings = Settings(
        gemini_api_key="test-key",
        gemini_base_url=stub.url,
        broker_url="memory://",
        redis_url=None,
    )
    llm = GeminiClassifier(
        settings, CATEGORIES, budget=build_budget(settings), cache=InMemoryDecisionCache(60)
    )
    local = ScriptedClassifier(default=local_decision, name="local", model_version="local-1")
    return CascadeClassifier(local, llm, threshold=0.85)


SURE = TicketText(description="where is my parcel")
UNSURE = TicketText(description="I was charged twice")


def test_is_a_classifier(cascade: CascadeClassifier) -> None:
    assert isinstance(cascade, Classifier)
    assert cascade.name == "cascade"
    assert cascade.model_version.startswith("local-1+gemini-2.5-flash/")


def test_sure_local_answer_skips_the_llm(cascade: CascadeClassifier, stub: GeminiStub) -> None:
    result = cascade.classify_with_details(SURE)
    decision, details = result.decision, result.as_audit()
    assert decision.classifier == "local" and decision.category == "shipping"
    assert details["answered_by"] == "local" and "llm_call" not in details
    assert stub.recorded() == []
    assert cascade.llm_calls_saved == 1 and cascade.llm_calls == 0


def test_unsure_local_answer_asks_the_llm(cascade: CascadeClassifier, stub: GeminiStub) -> None:
    result = cascade.classify_with_details(UNSURE)
    decision, details = result.decision, result.as_audit()
    assert decision.classifier == "gemini" and decision.category == "billing"
    assert details["answered_by"] == "gemini" and details["local_confidence"] == 0.4
    assert details["llm_call"]["prompt_tokens"] == 321
    assert len(stub.recorded()) == 1
    assert cascade.stats() == {"local_answers": 0, "llm_calls": 1}


def test_threshold_is_inclusive(stub: GeminiStub, cascade: CascadeClassifier) -> None:
    at_threshold = CascadeClassifier(cascade.local, cascade.llm, threshold=0.95)
    assert at_threshold.classify(SURE).classifier == "local"
    always_llm = CascadeClassifier(cascade.local, cascade.llm, threshold=1.0)
    assert always_llm.classify(SURE).classifier == "gemini"
    assert len(stub.recorded()) == 1


def test_classify_many_sends_only_the_unsure_and_keeps_order(
    cascade: CascadeClassifier, stub: GeminiStub
) -> None:
    tickets = [SURE, UNSURE, SURE, TicketText(description="invoice wrong")]
    decisions = cascade.classify_many(tickets)
    assert [d.classifier for d in decisions] == ["local", "gemini", "local", "gemini"]
    assert len(stub.recorded()) == 2
    assert cascade.stats() == {"local_answers": 2, "llm_calls": 2}


def test_llm_errors_propagate_to_be_retried(cascade: CascadeClassifier, stub: GeminiStub) -> None:
    stub.enqueue(error_response(503, "UNAVAILABLE"))
    with pytest.raises(LLMUnavailable):
        cascade.classify(UNSURE)


def test_works_with_any_llm_classifier() -> None:
    llm = ScriptedClassifier(
        default=lambda t: local_decision(t).model_copy(
            update={"classifier": "other", "confidence": 0.7}
        )
    )
    local = ScriptedClassifier(default=local_decision)
    cascade = CascadeClassifier(local, llm, threshold=0.5)
    result = cascade.classify_with_details(UNSURE)
    decision, details = result.decision, result.as_audit()
    assert decision.classifier == "other" and details["answered_by"] == "other"


def test_threshold_must_be_a_probability() -> None:
    local = ScriptedClassifier(default=local_decision)
    with pytest.raises(ValueError):
        CascadeClassifier(local, local, threshold=1.5)
