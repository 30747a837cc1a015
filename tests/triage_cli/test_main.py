"""`triage replay` and `triage sweep` as cron runs them: one summary line, a quiet stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.domain.errors import LLMRejected
from pipeline.domain.lifecycle import Stage
from pipeline.settings import Settings
from pipeline.stages.failures import fail_ticket
from pipeline.store.tickets import TicketStore
from pipeline.wiring import open_store
from tests.conftest import submit


@pytest.fixture
def cron_env(tmp_path: Path) -> Iterator[tuple[dict[str, str], TicketStore]]:
    """A migrated SQLite store (as in production: migrated once) and the environment to use it."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")},
        "TRIAGE_DATABASE_URL": f"sqlite:///{tmp_path / 'cron.db'}",
        "TRIAGE_BROKER_URL": "memory://",
    }
    store = open_store(Settings(database_url=env["TRIAGE_DATABASE_URL"]))
    yield env, store
    store.engine.dispose()


def triage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "triage_cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def quiet(stderr: str) -> bool:
    """Nothing a cron log would keep: no alembic "Context impl …" lines, nor any other."""
    # The in-memory transport of the test warns that it has no host name; Redis would not.
    return [line for line in stderr.splitlines() if "kombu.connection" not in line] == []


def test_replay_prints_one_summary_line_and_nothing_on_stderr(
    cron_env: tuple[dict[str, str], TicketStore],
) -> None:
    env, store = cron_env
    failed = submit(store, subject="a")
    submit(store, subject="b")  # not failed: not replayed
    fail_ticket(store, failed, Stage.classify, LLMRejected("400"), attempt=1)

    result = triage(env, "replay")

    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "replayed 1 failed tickets (1 from classify); 1 enqueued, 0 left for the sweeper\n"
    )
    assert quiet(result.stderr)
    assert store.get(failed).status == "received"


def test_sweep_prints_one_summary_line_and_nothing_on_stderr(
    cron_env: tuple[dict[str, str], TicketStore],
) -> None:
    env, _store = cron_env
    result = triage(env, "sweep")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "requeued 0 overdue tickets\n"
    assert quiet(result.stderr)
