"""`triage backfill FILE --wait` with a real `triage worker --queues backfill` (PostgreSQL, Redis).

Every row ends final and audited through the grouped stages, and nothing is delivered.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from tests.conftest import EXAMPLE_ROUTING
from tests.support.processes import triage_process
from tests.support.servers import redis_url
from tests.support.waiting import wait_for

REDIS_DB = 3  # this module's broker; no other test uses it
ROWS = 250


def write_file(path: Path, rows: int) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["external_id", "subject", "description", "customer_id"])
        subjects = ["Refund for order", "Parcel is late", "Charged twice", "App crashes"]
        for i in range(rows):
            subject = subjects[i % len(subjects)]
            writer.writerow([f"E-{i}", subject, f"{subject}, ticket {i} of the import.", "c1"])
    return path


@pytest.fixture
def broker() -> str:
    url = redis_url(REDIS_DB)  # skips without Redis locally, fails under CI
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


def test_backfill_with_a_real_worker_ends_every_row_final_and_audited(
    tmp_path: Path, fresh_postgres_url: str, broker: str
) -> None:
    env = {
        "TRIAGE_DATABASE_URL": fresh_postgres_url,
        "TRIAGE_BROKER_URL": broker,
        "TRIAGE_CLASSIFIER": "local",
        "TRIAGE_ROUTING_FILE": str(EXAMPLE_ROUTING),
        "TRIAGE_BACKFILL_GROUP_SIZE": "40",
        "TRIAGE_ASYNC_COMMIT": "true",
    }
    source = write_file(tmp_path / "history.csv", ROWS)
    worker_log = tmp_path / "worker.log"
    worker_args = ["worker", "--queues", "backfill", "--pool", "threads", "--concurrency", "2"]
    with triage_process([*worker_args, "--metrics-port", "0"], env, worker_log):
        wait_for(
            lambda: " ready." in worker_log.read_text(errors="replace"),
            timeout=120,
            interval=0.2,
            what="the backfill worker to be ready",
        )
        loader = subprocess.run(
            [sys.executable, "-m", "triage_cli", "backfill", str(source), "--wait"],
            env={**_clean_env(), **env},
            capture_output=True,
            timeout=300,
        )
    assert loader.returncode == 0, loader.stderr.decode()[-3000:]
    engine = create_engine(fresh_postgres_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT status, count(*) FROM tickets GROUP BY status"))
            statuses = {str(status): int(count) for status, count in rows}
            closed = connection.scalar(
                text("SELECT count(DISTINCT ticket_id) FROM audit_events WHERE event = 'closed'")
            )
            sent = connection.scalar(
                text("SELECT count(*) FROM deliveries WHERE status <> 'recorded'")
            )
    finally:
        engine.dispose()
    assert sum(statuses.values()) == ROWS
    assert set(statuses) <= {"done", "needs_review"}
    assert closed == ROWS and sent == 0


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
