"""Spend from the audit trail (SQLite and PostgreSQL JSON paths), and `triage status` shows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.adapters.queue_depths import FixedQueueDepths
from pipeline.domain.changes import ClassifiedTicket
from pipeline.operations.status_report import gather_status
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore
from pipeline.wiring import open_store
from tests.conftest import decision, submit
from triage_cli.main import main


def classified(store: TicketStore, detail: dict[str, object]) -> str:
    ticket_id = submit(store)
    assert store.mark_classified(ClassifiedTicket(ticket_id, decision(), detail), attempt=1)
    return ticket_id


def spend_in(store: TicketStore) -> None:
    classified(store, {"provider": "gemini", "cost_usd": 0.25})
    classified(store, {"provider": "openai", "cost_usd": 0.125, "fallback_from": []})
    classified(store, {"cascade_threshold": 0.8, "llm_call": {"cost_usd": 0.5}})
    classified(store, {"provider": "ollama", "cost_usd": None})  # price unknown: counts 0
    classified(store, {"classifier": "local"})  # no LLM asked


def test_spend_sums_every_decisions_cost_top_level_or_nested(any_store: TicketStore) -> None:
    spend_in(any_store)
    now = datetime.now(UTC)

    assert any_store.reports.llm_spend_since(now - timedelta(hours=1)) == pytest.approx(0.875)
    assert any_store.reports.llm_spend_since(now + timedelta(minutes=1)) == 0.0

    report = gather_status(any_store, FixedQueueDepths({}), monthly_budget=0.5)
    assert report.llm_spend_last_hour_usd == pytest.approx(0.875)
    assert report.llm_spend_today_usd == pytest.approx(0.875)
    assert report.llm_spend_month_usd == pytest.approx(0.875)
    assert report.llm_monthly_budget_reached is True


def test_triage_status_prints_spend_and_the_reached_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAGE_DATABASE_URL", f"sqlite:///{tmp_path / 'spend.db'}")
    monkeypatch.setenv("TRIAGE_BROKER_URL", "memory://")
    monkeypatch.delenv("TRIAGE_REDIS_URL", raising=False)
    store = open_store(Settings())
    spend_in(store)
    store.engine.dispose()

    plain = CliRunner().invoke(main, ["status"])
    monkeypatch.setenv("TRIAGE_LLM_MONTHLY_BUDGET", "0.5")
    capped = CliRunner().invoke(main, ["status"])

    assert plain.exit_code == 0, plain.output
    [line] = [line for line in plain.output.splitlines() if line.startswith("LLM spend")]
    assert "1 h $0.88, today $0.88, month $0.88" in line and "budget" not in line
    [line] = [line for line in capped.output.splitlines() if line.startswith("LLM spend")]
    assert "month $0.88 of $0.50: monthly budget reached, LLM skipped" in line
