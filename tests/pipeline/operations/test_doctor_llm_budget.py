"""`triage doctor` shows the monthly LLM budget against the month's spend."""

from __future__ import annotations

from unittest import mock

from pipeline.operations.doctor import Verdict, check_llm_budget
from pipeline.settings import Settings


def probes(spent: float) -> mock.Mock:
    found = mock.Mock()
    found.llm_month_spend.return_value = spent
    return found


def test_under_the_cap_is_ok_and_says_how_much_is_spent() -> None:
    result = check_llm_budget(Settings(llm_monthly_budget=50), probes(12.5))
    assert result.verdict is Verdict.ok and result.detail == "$12.50 of $50.00 spent this month"


def test_past_the_cap_warns_that_the_llm_is_skipped() -> None:
    result = check_llm_budget(Settings(llm_monthly_budget=50), probes(50.01))
    assert result.verdict is Verdict.warn
    assert result.detail.startswith("monthly budget reached: $50.01 of $50.00")
    assert "TRIAGE_LLM_MONTHLY_BUDGET" in result.fix


def test_an_unreadable_spend_warns_without_failing() -> None:
    broken = mock.Mock()
    broken.llm_month_spend.side_effect = ConnectionError("redis down")
    result = check_llm_budget(Settings(llm_monthly_budget=50), broken)
    assert result.verdict is Verdict.warn and "ConnectionError" in result.detail
