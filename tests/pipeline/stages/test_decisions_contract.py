"""What one classifier call is counted as (the LLM spend dashboards) and audited as."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import REGISTRY

from pipeline.domain.classification import (
    Classification,
    ClassifierResult,
    GroupCall,
    GroupResult,
    LLMCall,
    TicketText,
)
from pipeline.stages.decisions import decide, decide_group, decide_group_per_ticket

TICKET = TicketText(id="t1", description="I was charged twice")
OTHER = TicketText(id="t2", description="Parcel late")
DECISION = Classification(category="billing", confidence=0.9, classifier="gemini", model="g")


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def tokens(kind: str) -> float:
    return sample("triage_llm_tokens_total", {"kind": kind})


@dataclass
class Answers:
    """A classifier port answering with a given result, remembering the queue it was asked on."""

    call: LLMCall | None = None
    group: GroupCall | None = None
    queues: list[str | None] = field(default_factory=list)

    def classify_with_details(self, ticket: TicketText, *, queue: str | None = None) -> Any:
        self.queues.append(queue)
        return ClassifierResult(DECISION, self.call)

    def classify_group(self, tickets: list[TicketText], *, queue: str | None = None) -> Any:
        self.queues.append(queue)
        return GroupResult(
            {t.id: DECISION for t in tickets[:1]}, size=len(tickets), call=self.group
        )


def call(**fields: Any) -> LLMCall:
    values: dict[str, Any] = dict(
        provider="gemini",
        model="g",
        prompt_version="v3",
        cache_hit=False,
        pii_masked=(),
        prompt_tokens=120,
        output_tokens=30,
    )
    values.update(fields)
    return LLMCall(**values)


def test_an_answered_call_counts_one_request_and_its_tokens() -> None:
    before = (
        sample("triage_llm_requests_total", {"outcome": "ok"}),
        tokens("prompt"),
        tokens("output"),
    )
    classifier = Answers(call=call())
    decision, audit = decide(classifier, TICKET, "backfill")  # type: ignore[arg-type]
    assert decision == DECISION
    assert audit["prompt_tokens"] == 120 and audit["prompt_version"] == "v3"
    assert classifier.queues == ["backfill"]
    after = (
        sample("triage_llm_requests_total", {"outcome": "ok"}),
        tokens("prompt"),
        tokens("output"),
    )
    assert after == (before[0] + 1, before[1] + 120, before[2] + 30)


def test_unreported_tokens_count_as_none() -> None:
    before = (tokens("prompt"), tokens("output"))
    decide(Answers(call=call(prompt_tokens=None, output_tokens=None)), TICKET, "live")  # type: ignore[arg-type]
    assert (tokens("prompt"), tokens("output")) == before


def test_a_cache_hit_counts_as_a_hit_not_a_request() -> None:
    hits = sample("triage_llm_cache_hits_total")
    ok = sample("triage_llm_requests_total", {"outcome": "ok"})
    prompt = tokens("prompt")
    decide(Answers(call=call(cache_hit=True)), TICKET, "live")  # type: ignore[arg-type]
    assert sample("triage_llm_cache_hits_total") == hits + 1
    assert sample("triage_llm_requests_total", {"outcome": "ok"}) == ok
    assert tokens("prompt") == prompt


def test_no_llm_call_no_count_and_an_empty_audit() -> None:
    ok = sample("triage_llm_requests_total", {"outcome": "ok"})
    assert decide(Answers(), TICKET, "live") == (DECISION, {})  # type: ignore[arg-type]
    assert sample("triage_llm_requests_total", {"outcome": "ok"}) == ok


def test_a_group_is_asked_on_its_queue_and_audited() -> None:
    classifier = Answers()
    decisions, audit = decide_group(classifier, [TICKET, OTHER], "backfill")  # type: ignore[arg-type]
    assert decisions == {"t1": DECISION}
    assert audit == {"batched": 2}
    per_ticket, audits = decide_group_per_ticket(classifier, [TICKET, OTHER], "live")  # type: ignore[arg-type]
    assert per_ticket == {"t1": DECISION} and audits == {"t1": {"batched": 2}}
    assert classifier.queues == ["backfill", "live"]


def test_each_ticket_of_a_group_gets_its_share_of_the_request() -> None:
    group = GroupCall(
        provider="openai",
        model="o",
        prompt_version="v1",
        group_size=2,
        answered=1,
        pii_masked=("email",),
        cost_usd=0.5,
        repaired={"t1": ("urgency",)},
    )
    _, audits = decide_group_per_ticket(Answers(group=group), [TICKET, OTHER], "live")  # type: ignore[arg-type]
    assert audits["t1"]["repaired"] == ["urgency"]
    assert audits["t1"]["cost_usd"] == pytest.approx(0.5)
