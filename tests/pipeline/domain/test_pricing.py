"""LLM prices: the built-in snapshot, TRIAGE_LLM_PRICES merged over it, and its refusals."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipeline.domain.pricing import DEFAULT_PRICES, ModelPrice, parse_prices, price_table
from pipeline.settings import Settings
from triage_cli.preflight import settings_error_line


def test_cost_is_tokens_times_the_price_per_million() -> None:
    prices = price_table()
    # gemini-2.5-flash: $0.30 in, $2.50 out per 1M tokens.
    assert prices.cost_usd("gemini-2.5-flash", 1_000_000, 0) == pytest.approx(0.30)
    assert prices.cost_usd("gemini-2.5-flash", 2000, 400) == pytest.approx(0.0016)


def test_a_dated_model_name_takes_its_familys_price_longest_first() -> None:
    prices = price_table()
    assert prices.price("gpt-4.1-mini-2025-04-14") == DEFAULT_PRICES["gpt-4.1-mini"]
    assert prices.price("gpt-4.1-2025-04-14") == DEFAULT_PRICES["gpt-4.1"]
    assert prices.price("models/gemini-2.5-flash") == DEFAULT_PRICES["gemini-2.5-flash"]


def test_an_unknown_model_or_no_reported_tokens_cost_none() -> None:
    prices = price_table()
    assert prices.cost_usd("llama3.1:8b", 100, 10) is None
    assert prices.cost_usd("gemini-2.5-flash", None, None) is None


def test_overrides_are_merged_over_the_snapshot() -> None:
    overrides = parse_prices(
        '{"gemini-2.5-flash": {"input": 1, "output": 2}, "mine": {"input": 0, "output": 0.5}}'
    )
    prices = price_table(overrides)
    assert prices.price("gemini-2.5-flash") == ModelPrice(1.0, 2.0)
    assert prices.cost_usd("mine", 10, 2_000_000) == pytest.approx(1.0)
    assert prices.price("gpt-4o") == DEFAULT_PRICES["gpt-4o"]


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("{not json", "not JSON"),
        ('["gpt-4o"]', "JSON object"),
        ('{"m": {"input": 1}}', "needs both `input` and `output`"),
        ('{"m": {"input": -1, "output": 1}}', ">= 0"),
        ('{"m": {"input": "cheap", "output": 1}}', "must be a number"),
        ('{"m": {"input": 1, "output": 1, "cached": 0.1}}', "unknown keys"),
    ],
)
def test_a_malformed_table_refuses_the_settings_in_one_line(raw: str, why: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(llm_prices=raw)
    line = settings_error_line(caught.value)
    assert "\n" not in line
    assert line.startswith("invalid settings: TRIAGE_LLM_PRICES: ") and why in line


def test_the_table_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAGE_LLM_PRICES", '{"m-1": {"input": 3, "output": 4}}')
    assert Settings().price_overrides() == {"m-1": ModelPrice(3.0, 4.0)}


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("openai,bogus", "unknown bogus"),
        ("local,openai", "only come last"),
        ("openai,openai", "once"),
    ],
)
def test_a_bad_fallback_list_refuses_the_settings(raw: str, why: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(llm_fallbacks=raw)
    line = settings_error_line(caught.value)
    assert "TRIAGE_LLM_FALLBACKS" in line and why in line


def test_backfill_settings_default_to_the_live_ones() -> None:
    live = Settings(classifier="gemini", llm_model="gemini-2.5-pro")
    assert live.queue_settings("backfill") is live
    cheaper = Settings(
        classifier="gemini", llm_model="gemini-2.5-pro", backfill_llm_model="gemini-2.5-flash-lite"
    )
    assert cheaper.queue_settings("backfill").llm_model == "gemini-2.5-flash-lite"
    other = Settings(classifier="gemini", llm_model="gemini-2.5-pro", backfill_classifier="openai")
    backfill = other.queue_settings("backfill")
    assert backfill.classifier == "openai" and backfill.llm_model is None  # openai's default
    assert other.queue_settings("live") is other
