"""The evaluation gate: metered runs (budget waits, errors, cache hits) and their scores."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pipeline.classifiers.local.labelled_examples import LabelledExample
from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.classification import Classification, ClassifierResult, LLMCall, TicketText
from pipeline.domain.errors import LLMBadAnswer, LLMBudgetExhausted
from pipeline.operations.evaluation_gate import (
    below,
    review_threshold,
    run_classifier,
    score_run,
)
from tests.conftest import decision


class FakeLLM:
    """An LLM-like classifier: scripted results or errors per call, with call details."""

    name = "fake"
    model_version = "fake-1"

    def __init__(self, answers: list[object]) -> None:
        self.answers = answers

    def classify(self, ticket: TicketText) -> Classification:
        return self.classify_with_details(ticket).decision

    def classify_many(self, tickets: Sequence[TicketText]) -> list[Classification]:
        return [self.classify(t) for t in tickets]

    def classify_with_details(
        self, ticket: TicketText, *, queue: str | None = None
    ) -> ClassifierResult:
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        assert isinstance(answer, ClassifierResult)
        return answer

    def classify_group(self, tickets: Sequence[TicketText], *, queue: str | None = None):  # type: ignore[no-untyped-def]
        raise NotImplementedError


def call(cache_hit: bool = False, cost: float | None = 0.001) -> LLMCall:
    return LLMCall(
        provider="fake",
        model="fake-1",
        prompt_version="v",
        cache_hit=cache_hit,
        pii_masked=(),
        prompt_tokens=None if cache_hit else 100,
        output_tokens=None if cache_hit else 10,
        cost_usd=None if cache_hit else cost,
    )


def examples(*labels: str) -> list[LabelledExample]:
    return [
        LabelledExample(subject="", description=f"t{i}", category=c) for i, c in enumerate(labels)
    ]


def test_budget_waits_are_honoured_and_errors_counted() -> None:
    waits: list[float] = []
    llm = FakeLLM(
        [
            LLMBudgetExhausted("wait", retry_after=0.25),
            ClassifierResult(decision("billing"), call()),
            ClassifierResult(decision("refund"), call(cache_hit=True)),
            LLMBadAnswer("garbage"),
        ]
    )
    tickets = [TicketText(description=f"t{i}") for i in range(3)]
    run = run_classifier(llm, tickets, wait=waits.append)
    assert waits == [0.25]
    assert [d.category if d else None for d in run.decisions] == ["billing", "refund", None]
    s = run.stats
    assert (s.requests, s.cache_hits, s.errors) == (1, 1, 1)
    assert (s.prompt_tokens, s.output_tokens, s.cost_usd) == (100, 10, pytest.approx(0.001))
    assert len(s.latencies_ms) == 2


def test_an_unpriced_call_makes_the_cost_unknown() -> None:
    llm = FakeLLM([ClassifierResult(decision(), call(cost=None))])
    assert run_classifier(llm, [TicketText(description="x")]).stats.cost_usd is None


def test_a_failed_ticket_counts_wrong_but_is_no_label() -> None:
    llm = FakeLLM([ClassifierResult(decision("billing"), call()), LLMBadAnswer("bad")])
    data = examples("billing", "refund")
    run = run_classifier(llm, [TicketText(description=e.description) for e in data])
    report = score_run("fake", "fake-1", data, run, threshold=0.5, threshold_source="configured")
    assert report.evaluation.accuracy == 0.5
    assert set(report.evaluation.per_label) == {"billing", "refund"}
    assert report.evaluation.macro_f1 == pytest.approx((1.0 + 0.0) / 2)  # billing, refund
    assert report.at_threshold.coverage == 0.5 and report.at_threshold.precision == 1.0
    assert below([report], 0.6) == [report] and below([report], 0.5) == [] == below([report], None)


def test_offline_classifiers_run_in_batches() -> None:
    scripted = ScriptedClassifier(default=decision("billing", 0.8))
    data = examples("billing", "billing", "refund")
    run = run_classifier(scripted, [TicketText(description=e.description) for e in data])
    report = score_run(
        "scripted",
        "s",
        data,
        run,
        threshold=0.9,
        threshold_source="configured",
        target_precision=0.5,
    )
    assert report.stats.requests == 0 and len(report.stats.latencies_ms) == 3
    assert report.at_threshold.coverage == 0.0 and report.at_threshold.precision is None
    assert report.target is None  # fewer than 20 decisions: no threshold is trusted
    d = report.as_dict()
    assert d["accuracy"] == pytest.approx(2 / 3) and d["tokens"] == 0 and d["coverage"] == 0.0


def test_a_local_models_own_threshold_only_adds_to_the_setting() -> None:
    local = ScriptedClassifier(default=decision(), name="local")
    assert review_threshold(local, 0.55) == (0.55, "configured")
    local.review_threshold = 0.8  # type: ignore[attr-defined]
    assert review_threshold(local, 0.55) == (0.8, "model")
    assert review_threshold(local, 0.9) == (0.9, "configured")
    other = ScriptedClassifier(default=decision())
    other.review_threshold = 0.8  # type: ignore[attr-defined]
    assert review_threshold(other, 0.55) == (0.55, "configured")
