"""decisions.py: one call on the classifier port, LLM outcomes counted by the error's type."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from pipeline.adapters.decision_cache import InMemoryDecisionCache
from pipeline.classifiers.llm import LLMClassifier
from pipeline.classifiers.scripted import ScriptedClassifier, ScriptedTransport
from pipeline.domain.classification import Classification, TicketText
from pipeline.domain.errors import LLMBudgetExhausted, LLMRejected, LLMUnavailable
from pipeline.stages.decisions import decide, decide_group
from pipeline.testing.gemini_responses import classification_json

TICKET = TicketText(id="t1", description="I was charged twice")
DECISION = Classification(category="billing", confidence=0.9, classifier="local", model="l-1")


class OpenBudget:
    def try_acquire(self, tokens: int, *, queue: str = "live") -> float:
        return 0.0

    def record_tokens(self, actual: int, *, estimated: int, queue: str = "live") -> None:
        pass


def requests(outcome: str) -> float:
    return REGISTRY.get_sample_value("triage_llm_requests_total", {"outcome": outcome}) or 0.0


def llm(transport: ScriptedTransport) -> LLMClassifier:
    return LLMClassifier(
        transport,
        {"billing": "charges"},
        model="m",
        budget=OpenBudget(),
        cache=InMemoryDecisionCache(60),
    )


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (LLMUnavailable("over quota", rate_limited=True), "rate_limited"),
        (LLMUnavailable("429 in the text, but a 503"), "unavailable"),
        (LLMBudgetExhausted("wait", retry_after=1.0), "budget_wait"),
        (LLMRejected("401"), "rejected"),
    ],
)
def test_llm_errors_are_counted_by_their_type_not_their_text(
    error: Exception, outcome: str
) -> None:
    before = requests(outcome)
    with pytest.raises(type(error)):
        decide(llm(ScriptedTransport(default="{}", script=[error])), TICKET, "live")
    assert requests(outcome) == before + 1


def test_an_llm_decision_is_counted_and_audited() -> None:
    before = requests("ok")
    decision, audit = decide(llm(ScriptedTransport(classification_json())), TICKET, "live")
    assert decision.category == "billing" and audit["provider"] == "scripted-llm"
    assert requests("ok") == before + 1


def test_an_offline_decision_has_no_detail() -> None:
    before = requests("ok")
    assert decide(ScriptedClassifier(default=DECISION), TICKET, "live") == (DECISION, {})
    assert requests("ok") == before


def test_groups_go_through_the_port() -> None:
    texts = [TICKET, TicketText(id="t2", description="x")]
    answers, audit = decide_group(ScriptedClassifier(default=DECISION), texts, "backfill")
    assert answers == {"t1": DECISION, "t2": DECISION} and audit == {"batched": 2}
