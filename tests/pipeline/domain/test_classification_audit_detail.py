"""What the audit trail keeps of a cascade's decision and of a group request a cascade nested.

The quality report and the LLM spend queries read these keys back from `audit_events.detail`:
each one must say what the decision really was (the local answer and the threshold it was
held to; for a group, the ticket's own repairs inside the nested request).
"""

from __future__ import annotations

from pipeline.domain.classification import (
    CascadeStep,
    Classification,
    ClassifierResult,
    GroupCall,
    GroupResult,
    LLMCall,
)

LLM_DECISION = Classification(category="billing", confidence=0.93, classifier="gemini", model="g")
LOCAL_DECISION = Classification(
    category="shipping", confidence=0.91, classifier="local", model="local-1"
)
STEP = CascadeStep(threshold=0.8, local_category="shipping", local_confidence=0.42)


def test_a_cascade_that_asked_the_llm_records_the_local_answer_and_the_call() -> None:
    call = LLMCall(
        provider="gemini", model="g", prompt_version="v3", cache_hit=False, pii_masked=("email",)
    )
    detail = ClassifierResult(LLM_DECISION, call, STEP).as_audit()
    assert detail == {
        "cascade_threshold": 0.8,
        "local_category": "shipping",
        "local_confidence": 0.42,
        "llm_call": call.as_audit(),
        "answered_by": "gemini",
    }


def test_a_cascade_settled_locally_records_no_call() -> None:
    step = CascadeStep(threshold=0.85, local_category="shipping", local_confidence=0.91)
    assert ClassifierResult(LOCAL_DECISION, cascade=step).as_audit() == {
        "cascade_threshold": 0.85,
        "local_category": "shipping",
        "local_confidence": 0.91,
        "answered_by": "local",
    }


def test_a_nested_group_request_carries_the_tickets_own_repairs() -> None:
    call = GroupCall(
        provider="openai",
        model="gpt-x",
        prompt_version="g2",
        group_size=2,
        answered=2,
        pii_masked=(),
        repaired={"b": ("urgency",), "c": ("language",)},
    )
    result = GroupResult({"a": LOCAL_DECISION, "b": LLM_DECISION}, 3, call, nested=True)
    audit = result.as_audit("b")
    assert audit == {"batched": 3, "llm_group": call.as_audit("b")}
    assert audit["llm_group"]["repaired"] == ["urgency"]
    assert "repaired" not in result.as_audit("a")["llm_group"]  # answered locally: none
    assert "repaired" not in result.as_audit()["llm_group"]  # the group's own detail
