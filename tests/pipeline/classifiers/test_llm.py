"""The generic LLM classifier over the in-memory transport: what every provider gets for free."""

from __future__ import annotations

import json

import pytest

from pipeline.adapters.decision_cache import InMemoryDecisionCache
from pipeline.classifiers.cascade import CascadeClassifier
from pipeline.classifiers.llm import LLMClassifier
from pipeline.classifiers.scripted import ScriptedClassifier, ScriptedTransport, SentRequest
from pipeline.domain.classification import Classification, TicketText, Urgency
from pipeline.domain.errors import (
    LLMBadAnswer,
    LLMBudgetExhausted,
    LLMRejected,
    LLMUnavailable,
)
from pipeline.ports import Classifier, LLMAnswer
from pipeline.testing.gemini_responses import classification_json

CATEGORIES = {"billing": "charges", "shipping": "parcels"}
TICKET = TicketText(id="t1", subject="Charged twice", description="mail me at ann@example.com")


class Budget:
    """Grants unless told to refuse; records every charge."""

    def __init__(self, wait: float = 0.0) -> None:
        self.wait = wait
        self.acquired: list[tuple[int, str]] = []
        self.recorded: list[tuple[int, int, str]] = []

    def try_acquire(self, tokens: int, *, queue: str = "live") -> float:
        if self.wait:
            return self.wait
        self.acquired.append((tokens, queue))
        return 0.0

    def record_tokens(self, actual: int, *, estimated: int, queue: str = "live") -> None:
        self.recorded.append((actual, estimated, queue))


def make(transport: ScriptedTransport, budget: Budget | None = None) -> LLMClassifier:
    return LLMClassifier(
        transport,
        CATEGORIES,
        model="m-1",
        budget=budget or Budget(),
        cache=InMemoryDecisionCache(60),
    )


def group_reply(request: SentRequest) -> str:
    ids = [part.split('"')[0] for part in request.contents.split('<ticket id="')[1:]]
    items = [json.loads(classification_json("shipping")) | {"id": i} for i in ids]
    return json.dumps({"results": items})


def test_masks_caches_and_reports_the_call_like_every_provider() -> None:
    transport = ScriptedTransport(default=classification_json("billing"))
    budget = Budget()
    llm = make(transport, budget)
    assert isinstance(llm, Classifier) and llm.name == "scripted-llm"

    result = llm.classify_with_details(TICKET, queue="backfill")

    assert result.decision.category == "billing" and result.decision.classifier == "scripted-llm"
    [sent] = transport.sent
    assert "ann@example.com" not in sent.contents and "[email]" in sent.contents
    assert sent.schema is llm.schema and sent.model == "m-1"
    audit = result.as_audit()
    assert list(audit) == [
        "provider",
        "model",
        "prompt_version",
        "cache_hit",
        "pii_masked",
        "queue",
        "latency_ms",
        "prompt_tokens",
        "output_tokens",
        "estimated_tokens",
        "cost_usd",
        "error",
    ]
    assert audit["pii_masked"] == ["email"] and audit["queue"] == "backfill"
    assert (audit["prompt_tokens"], audit["output_tokens"]) == (321, 42)
    assert budget.recorded == [(363, audit["estimated_tokens"], "backfill")]

    again = llm.classify_with_details(TICKET)
    assert again.call is not None and again.call.cache_hit is True
    assert len(transport.sent) == 1


def test_transport_errors_pass_through_typed() -> None:
    limited = LLMUnavailable("429", retry_after=3.0, rate_limited=True)
    transport = ScriptedTransport(default="{}", script=[limited, LLMRejected("401")])
    llm = make(transport)
    with pytest.raises(LLMUnavailable) as caught:
        llm.classify(TICKET)
    assert caught.value.rate_limited is True and caught.value.retry_after == 3.0
    assert llm.last_call is not None and llm.last_call.error == "429"
    with pytest.raises(LLMRejected):
        llm.classify(TICKET)


def test_bad_and_blocked_answers() -> None:
    transport = ScriptedTransport(
        default=classification_json(),
        script=["{not json", LLMAnswer(None, blocked="blocked: SAFETY")],
    )
    llm = make(transport)
    with pytest.raises(LLMBadAnswer):
        llm.classify(TICKET)
    with pytest.raises(LLMRejected, match="blocked"):
        llm.classify(TICKET)
    assert llm.classify(TICKET).category == "billing"  # nothing bad was cached


def test_budget_refusal_sends_nothing() -> None:
    transport = ScriptedTransport(default=classification_json())
    with pytest.raises(LLMBudgetExhausted) as caught:
        make(transport, Budget(wait=2.5)).classify(TICKET)
    assert caught.value.retry_after == 2.5 and transport.sent == []


def test_group_is_one_request_with_the_group_schema() -> None:
    transport = ScriptedTransport(default=group_reply)
    llm = make(transport)
    tickets = [TicketText(id=f"t{i}", description=f"parcel {i}") for i in range(3)]
    result = llm.classify_group(tickets, queue="backfill")
    assert sorted(result.decisions) == ["t0", "t1", "t2"]
    assert transport.sent[0].schema is llm.group_schema and len(transport.sent) == 1
    audit = result.as_audit()
    assert (audit["provider"], audit["group_size"], audit["answered"]) == ("scripted-llm", 3, 3)
    assert audit["cache_hit"] is False and audit["prompt_version"] == "triage-group-v2"


def local(ticket: TicketText) -> Classification:
    sure = "parcel" in ticket.description
    return Classification(
        category="shipping" if sure else "billing",
        urgency=Urgency.low,
        confidence=0.95 if sure else 0.4,
        classifier="local",
        model="local-1",
    )


def test_cascade_group_asks_the_llm_once_for_the_unsure_only() -> None:
    transport = ScriptedTransport(default=group_reply)
    cascade = CascadeClassifier(ScriptedClassifier(default=local), make(transport), 0.85)
    tickets = [
        TicketText(id="a", description="where is my parcel"),
        TicketText(id="b", description="charged twice"),
        TicketText(id="c", description="invoice wrong"),
    ]
    result = cascade.classify_group(tickets)
    assert {k: v.classifier for k, v in result.decisions.items()} == {
        "a": "local",
        "b": "scripted-llm",
        "c": "scripted-llm",
    }
    [sent] = transport.sent
    assert 'id="b"' in sent.contents and 'id="a"' not in sent.contents
    audit = result.as_audit()
    assert audit["batched"] == 3 and audit["llm_group"]["group_size"] == 2
    assert cascade.stats() == {"local_answers": 1, "llm_calls": 2}


def test_offline_classifiers_report_no_call() -> None:
    scripted = ScriptedClassifier(default=local)
    assert scripted.classify_with_details(TICKET).as_audit() == {}
    group = scripted.classify_group([TICKET, TicketText(id="t2", description="parcel")])
    assert group.as_audit() == {"batched": 2} and list(group.decisions) == ["t1", "t2"]


def test_a_repaired_answer_is_used_named_in_the_audit_and_not_cached() -> None:
    transport = ScriptedTransport(
        default=classification_json("billing"),
        script=[classification_json("billing", language="english", reason="x" * 300)],
    )
    llm = make(transport)
    result = llm.classify_with_details(TICKET)
    assert (result.decision.category, result.decision.language) == ("billing", "und")
    audit = result.as_audit()
    assert audit["repaired"] == ["language", "reason"] and audit["error"] is None
    assert "english" not in json.dumps(audit)
    clean = llm.classify_with_details(TICKET)  # asked again: a repaired answer is not cached
    assert clean.call is not None and clean.call.cache_hit is False
    assert "repaired" not in clean.as_audit() and len(transport.sent) == 2
    assert llm.classify_with_details(TICKET).call.cache_hit is True  # type: ignore[union-attr]


def test_group_answers_are_repaired_per_ticket() -> None:
    def reply(request: SentRequest) -> str:
        good = json.loads(classification_json("shipping"))
        return json.dumps(
            {
                "results": [
                    good | {"id": "t0"},
                    good | {"id": "t1", "language": "xx", "urgency": "asap"},
                    good | {"id": "t2", "category": "warranty"},  # unusable: asked alone
                ]
            }
        )

    llm = make(ScriptedTransport(default=reply))
    tickets = [TicketText(id=f"t{i}", description=f"parcel {i}") for i in range(3)]
    result = llm.classify_group(tickets)
    assert sorted(result.decisions) == ["t0", "t1"]
    assert result.decisions["t1"].language == "und"
    assert result.decisions["t1"].urgency is Urgency.normal
    assert result.as_audit("t1")["repaired"] == ["urgency", "language"]
    assert "repaired" not in result.as_audit("t0") and "repaired" not in result.as_audit()
    assert result.as_audit()["answered"] == 2


def test_cascade_nests_the_repairs_with_the_llm_call() -> None:
    transport = ScriptedTransport(default=classification_json("billing", confidence=3))
    cascade = CascadeClassifier(ScriptedClassifier(default=local), make(transport), 0.85)
    result = cascade.classify_with_details(TicketText(id="b", description="charged twice"))
    assert result.decision.confidence == 0.0
    assert result.as_audit()["llm_call"]["repaired"] == ["confidence"]


def test_an_answer_without_a_usable_category_is_still_bad() -> None:
    transport = ScriptedTransport(default=classification_json("warranty", language="xx"))
    llm = make(transport)
    with pytest.raises(LLMBadAnswer, match="category"):
        llm.classify(TICKET)
    assert llm.last_call is not None and llm.last_call.error == "answer outside the schema"
    assert llm.last_call.repaired == ()
