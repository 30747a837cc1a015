"""What the audit trail keeps of an LLM call, alone or for a group of tickets."""

from __future__ import annotations

from pipeline.domain.classification import GroupCall


def group(**fields: object) -> GroupCall:
    values: dict[str, object] = dict(
        provider="openai",
        model="gpt-x",
        prompt_version="g2",
        group_size=4,
        answered=3,
        pii_masked=("email", "phone"),
        latency_ms=812.5,
        prompt_tokens=900,
        output_tokens=120,
    )
    values.update(fields)
    return GroupCall(**values)  # type: ignore[arg-type]


def test_a_group_call_is_audited_field_by_field() -> None:
    assert group().as_audit("t1") == {
        "provider": "openai",
        "model": "gpt-x",
        "prompt_version": "g2",
        "group_size": 4,
        "answered": 3,
        "cache_hit": False,
        "latency_ms": 812.5,
        "prompt_tokens": 900,
        "output_tokens": 120,
        "cost_usd": None,
        "pii_masked": ["email", "phone"],
    }


def test_each_answered_ticket_carries_its_share_of_the_cost() -> None:
    audit = group(cost_usd=0.000123456789).as_audit()
    assert audit["cost_usd"] == round(0.000123456789 / 3, 8) == 4.115e-05
    assert audit["group_cost_usd"] == 0.000123456789
    assert group(cost_usd=0.5, answered=0).as_audit()["cost_usd"] == 0.5  # nobody: no split


def test_only_the_tickets_own_repairs_are_named() -> None:
    call = group(repaired={"t1": ("urgency",), "t2": ("language", "category")})
    assert call.as_audit("t1")["repaired"] == ["urgency"]
    assert "repaired" not in call.as_audit("t3")
    assert "repaired" not in call.as_audit()  # the group's own detail: no ticket's repairs
    assert "repaired" not in call.as_audit(None)
