"""`triage backfill`: CSV and JSONL, mapping, rejects, idempotent re-runs, resume, no delivery."""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from pipeline.backfill.jobs import get_job
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore
from pipeline.wiring import open_store
from tests.support.broker import drain_queue, purge_queues
from triage_cli import progress
from triage_cli.main import main
from workers.celery_app import default_app


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


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def helpdesk_rows(n: int, start: int = 0) -> list[dict[str, str]]:
    return [
        {
            "ticket_no": f"T-{i}",
            "title": f"Order {i} late",
            "body": f"Where is parcel {i}?",
            "client": f"cus_{i % 7}",
            "opened_at": "2024-05-01T10:00:00Z",
            "channel": "email",
            "category": "shipping",
        }
        for i in range(start, start + n)
    ]


MAP = "external_id=ticket_no,subject=title,description=body,customer_id=client,created_at=opened_at"


def backfill(*args: str) -> Result:
    return CliRunner().invoke(main, ["backfill", *args], catch_exceptions=False)


def test_csv_with_mapping_is_stored_and_enqueued_on_the_backfill_queue(
    env: TicketStore, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "old.csv", helpdesk_rows(12))
    result = backfill(str(path), "--map", MAP, "--batch-size", "5")

    assert result.exit_code == 0, result.output
    assert "stored 12, skipped 0 (already stored), rejected 0, enqueued 12" in result.output
    messages = drain_queue(default_app(), "backfill")
    # Grouped classification: one message per group of ids (20 by default), per batch of 5.
    assert [m.task for m in messages] == ["triage.classify_group"] * 3
    assert [len(m.args[0]) for m in messages] == [5, 5, 2]
    assert drain_queue(default_app(), "live") == []
    ticket = env.get(messages[0].args[0][0])
    assert ticket.queue == "backfill" and ticket.deliver is False
    assert ticket.extra == {"channel": "email"}  # unmapped columns become metadata
    assert ticket.known_category == "shipping"
    assert ticket.created_at is not None and ticket.created_at.year == 2024


def test_rerun_stores_nothing_twice(env: TicketStore, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "old.csv", helpdesk_rows(8))
    backfill(str(path), "--map", MAP)
    again = backfill(str(path), "--map", MAP)
    assert "stored 0, skipped 8 (already stored)" in again.output
    assert env.count_by_status() == {"received": 8}


def test_jsonl_gzip_with_rejects(env: TicketStore, tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl.gz"
    lines = [
        json.dumps({"external_id": "a", "subject": "s", "description": "d", "customer_id": "c"}),
        "{not json",
        json.dumps({"external_id": "b", "subject": "s", "customer_id": "c"}),
        json.dumps(
            {
                "external_id": "c",
                "subject": "s",
                "description": "d",
                "customer_id": "c",
                "priority": "urgent",
            }
        ),
    ]
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    result = backfill(str(path))
    assert result.exit_code == 1  # rows were rejected
    assert "stored 2" in result.output and "rejected 2" in result.output
    with open(f"{path.resolve()}.rejects.csv", encoding="utf-8") as handle:
        rejects = list(csv.reader(handle))
    assert rejects[0] == ["line", "reason"]
    assert [r[0] for r in rejects[1:]] == ["2", "3"]
    assert "description" in rejects[2][1]


def test_interrupted_run_resumes_where_it_stopped(
    env: TicketStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(tmp_path / "old.csv", helpdesk_rows(20))
    import workers.chains

    real = workers.chains.enqueue_groups_after_commit
    calls = {"n": 0}

    def crash_after_first_batch(*args: object, **kwargs: object) -> int:
        calls["n"] += 1
        if calls["n"] > 1:
            raise KeyboardInterrupt
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(workers.chains, "enqueue_groups_after_commit", crash_after_first_batch)
    first = CliRunner().invoke(main, ["backfill", str(path), "--map", MAP, "--batch-size", "5"])
    assert "resume with" in first.output
    job = get_job(env)
    assert (job.status, job.last_line) == ("interrupted", 10)  # the second batch committed
    monkeypatch.setattr(workers.chains, "enqueue_groups_after_commit", real)

    resumed = backfill("--resume", job.id, "--batch-size", "5")

    assert resumed.exit_code == 0, resumed.output
    assert get_job(env, job.id).stored == 20
    assert sum(env.count_by_status().values()) == 20
    # Tickets committed but not published before the crash wait in the store for the sweeper.
    published = [len(m.args[0]) for m in drain_queue(default_app(), "backfill")]
    assert published == [5, 5, 5]


def test_status_shows_the_job(env: TicketStore, tmp_path: Path) -> None:
    backfill(str(write_csv(tmp_path / "x.csv", helpdesk_rows(3))), "--map", MAP)
    result = backfill("status")
    assert "stored 3" in result.output and "received 3" in result.output


def test_usage_errors_exit_2(env: TicketStore, tmp_path: Path) -> None:
    assert backfill(str(tmp_path / "missing.csv")).exit_code == 2
    path = write_csv(tmp_path / "x.csv", helpdesk_rows(1))
    assert backfill(str(path), "--map", "nonsense=foo").exit_code == 2
    assert backfill("status", "no-such-job").exit_code == 2


def test_llm_batch_classifies_through_the_batch_api(
    env: TicketStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.testing.gemini_responses import answer_every_ticket
    from pipeline.testing.gemini_stub import running_stub

    with running_stub() as stub:
        stub.inline_responder = answer_every_ticket
        monkeypatch.setenv("GEMINI_API_KEY", "stub-key")
        monkeypatch.setenv("TRIAGE_GEMINI_BASE_URL", stub.url)
        monkeypatch.setenv("TRIAGE_LLM_GROUP_SIZE", "5")
        default_app.cache_clear()
        path = write_csv(tmp_path / "old.csv", helpdesk_rows(12))
        result = backfill(str(path), "--map", MAP, "--llm-batch", "--poll-interval", "0.01")

        assert result.exit_code == 0, result.output
        [batch] = stub.batch_list()
        assert len(batch.requests) == 3  # groups of 5, 5 and 2 in one job
    assert env.count_by_status() == {"classified": 12}
    # The classified go on in groups: the grouped stages skip classify, route and audit them.
    [group] = drain_queue(default_app(), "backfill")
    assert group.task == "triage.classify_group" and len(group.args[0]) == 12
    ticket_id = group.args[0][0]
    classified = next(e for e in env.audit_trail(ticket_id) if e.event == "classified")
    assert classified.detail["llm_batch"] == batch.name


def job_count(store: TicketStore) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM backfill_jobs")).scalar_one())


def test_off_a_terminal_progress_is_plain_lines_and_ends_with_the_summary(
    env: TicketStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "PLAIN_INTERVAL_S", 0.0)  # a line per batch
    path = write_csv(tmp_path / "old.csv", helpdesk_rows(12))
    result = backfill(str(path), "--map", MAP, "--batch-size", "5")

    assert result.exit_code == 0, result.output
    assert "\r" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("backfill: ")]
    assert [line.split(" · ")[:2] for line in lines] == [
        ["backfill: 5 rows", "stored 5"],
        ["backfill: 10 rows", "stored 10"],
        ["backfill: 12 rows", "stored 12"],
    ]
    assert all("rows/s" in line and "ETA" in line for line in lines)
    job = get_job(env)
    assert result.stdout.splitlines()[-1] == (
        f"job {job.id} stored: read 12, stored 12, skipped 0 (already stored), rejected 0, "
        "enqueued 12"
    )


def test_a_rerun_rewrites_the_rejects_file(env: TicketStore, tmp_path: Path) -> None:
    rows = helpdesk_rows(4)
    rows[1]["body"] = ""  # no description: rejected
    path = write_csv(tmp_path / "old.csv", rows)
    rejects = Path(f"{path.resolve()}.rejects.csv")
    for _ in range(2):
        assert backfill(str(path), "--map", MAP).exit_code == 1
        with open(rejects, encoding="utf-8") as handle:
            assert [r[0] for r in csv.reader(handle)] == ["line", "3"]  # one run's rejects


def test_a_missing_file_fails_at_once_without_a_job(env: TicketStore, tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent.csv"
    result = backfill(str(missing))
    assert result.exit_code == 2
    assert result.stderr == f"backfill: {missing} does not exist\n"
    assert job_count(env) == 0


def test_columns_that_give_no_description_fail_at_once_without_a_job(
    env: TicketStore, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "old.csv", helpdesk_rows(3))
    result = backfill(str(path))  # their columns, no --map
    assert result.exit_code == 2
    # The message `triage train` gives for the same mistake.
    assert result.stderr == (
        f"backfill: {path}: column 'subject' and 'description' and 'customer_id' not found "
        "(columns: 'ticket_no', 'title', 'body', 'client', 'opened_at', 'channel', 'category'); "
        "rename with --map ours=theirs\n"
    )
    partly = backfill(str(path), "--map", "subject=title,customer_id=client")
    assert partly.exit_code == 2 and "column 'description' not found" in partly.stderr
    assert job_count(env) == 0
    assert not Path(f"{path.resolve()}.rejects.csv").exists()


def test_status_after_a_rerun_that_stored_nothing_shows_the_job_with_the_tickets(
    env: TicketStore, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "x.csv", helpdesk_rows(3))
    backfill(str(path), "--map", MAP)
    first = get_job(env)
    backfill(str(path), "--map", MAP)
    rerun = get_job(env)
    assert rerun.id != first.id and rerun.stored == 0

    lines = backfill("status").stdout.splitlines()

    assert lines[0].startswith(f"job {first.id} stored: read 3, stored 3,")
    assert lines[1] == "tickets: received 3"
    assert lines[2].startswith(f"newer run: job {rerun.id} (stored) stored no tickets (read 3,")
    assert backfill("status", rerun.id).stdout.splitlines()[1] == "tickets: none"


def test_wait_follows_the_tickets_and_ends_with_a_summary_line(
    env: TicketStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import triage_cli.backfill

    def workers_finish(_seconds: float) -> None:
        # Stands in for the workers: every ticket of the run reaches a final state.
        with env.engine.begin() as connection:
            connection.execute(text("UPDATE tickets SET status = 'done'"))

    monkeypatch.setattr(triage_cli.backfill.time, "sleep", workers_finish)
    path = write_csv(tmp_path / "x.csv", helpdesk_rows(3))
    result = backfill(str(path), "--map", MAP, "--wait")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == f"job {get_job(env).id}: 3 tickets final (done 3)"
    assert "\r" not in result.output
