"""`triage backfill FILE --format zendesk|freshdesk|jira|github`: helpdesk exports, mapped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pipeline.backfill.formats import read_format_rows
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore
from pipeline.wiring import open_store
from tests.support.broker import drain_queue, purge_queues
from triage_cli.main import main
from workers.celery_app import default_app

EXPORTS = Path(__file__).resolve().parents[1] / "fixtures" / "connectors" / "exports"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TicketStore]:
    monkeypatch.setenv("TRIAGE_DATABASE_URL", f"sqlite:///{tmp_path / 'bf.db'}")
    monkeypatch.setenv("TRIAGE_BROKER_URL", "memory://")
    default_app.cache_clear()
    purge_queues(default_app(), "live", "backfill")
    store = open_store(Settings())
    yield store
    purge_queues(default_app(), "live", "backfill")
    default_app.cache_clear()
    store.engine.dispose()


def backfill(*args: str) -> Result:
    return CliRunner().invoke(main, ["backfill", *args], catch_exceptions=False)


@pytest.mark.parametrize(
    ("fmt", "file", "expected"),
    [
        ("zendesk", "zendesk_incremental.json", {"101": "20978392", "103": "20978393"}),
        (
            "freshdesk",
            "freshdesk_export.csv",
            {"2001": "lee@example.com", "2002": "kim@example.com"},
        ),
        ("jira", "jira_export.csv", {"SUP-17": "mia@example.com", "SUP-18": "sam@example.com"}),
        ("github", "github_issues.json", {"octo-org/hello-world#1347": "octocat"}),
    ],
)
def test_each_export_is_stored_historical_under_its_helpdesk_source(
    env: TicketStore, fmt: str, file: str, expected: dict[str, str]
) -> None:
    result = backfill(str(EXPORTS / file), "--format", fmt)
    assert result.exit_code == 0, result.output
    assert f"stored {len(expected)}, skipped 0 (already stored), rejected 0" in result.output
    [message, *_] = drain_queue(default_app(), "backfill")
    tickets = [env.get(ticket_id) for ticket_id in message.args[0]]
    assert {t.external_id: t.customer_id for t in tickets} == expected
    for ticket in tickets:
        # The webhook's source: a later webhook of the same ticket maps onto this one.
        assert (ticket.source, ticket.queue, ticket.deliver) == (fmt, "backfill", False)
        assert ticket.connector == fmt  # so `--deliver` can write back to that helpdesk
        assert ticket.extra["helpdesk"]["connector"] == fmt


def test_export_rows_are_mapped_like_the_webhooks() -> None:
    rows = list(read_format_rows(EXPORTS / "freshdesk_export.csv", "freshdesk"))
    assert rows[0].fields["description"] == "The box was crushed."
    assert rows[0].fields["priority"] == "urgent" and rows[1].fields["priority"] == "low"
    zendesk = list(read_format_rows(EXPORTS / "zendesk_incremental.json", "zendesk"))
    assert [r.fields["priority"] for r in zendesk] == ["normal", "urgent"]  # deleted one skipped


def test_deliver_is_reused_and_a_rerun_skips_everything(env: TicketStore) -> None:
    path = str(EXPORTS / "jira_export.csv")
    assert backfill(path, "--format", "jira", "--deliver").exit_code == 0
    again = backfill(path, "--format", "jira")
    assert "stored 0, skipped 2 (already stored)" in again.output
    [message, *_] = drain_queue(default_app(), "backfill")
    assert all(env.get(t).deliver for t in message.args[0])


def test_a_file_that_is_not_the_export_fails_at_once(env: TicketStore, tmp_path: Path) -> None:
    wrong = tmp_path / "x.csv"
    wrong.write_text("a,b\n1,2\n")
    result = CliRunner().invoke(main, ["backfill", str(wrong), "--format", "jira"])
    assert result.exit_code == 2 and "not a jira CSV export" in result.output
    mixed = CliRunner().invoke(
        main, ["backfill", str(wrong), "--format", "jira", "--map", "subject=a"]
    )
    assert mixed.exit_code == 2
