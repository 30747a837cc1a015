"""Separate processes on the real servers: `triage worker` on each broker, the API, PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ingest_api.app import create_app
from pipeline.data.samples import load_sample_tickets
from pipeline.domain.lifecycle import FINAL_STATUSES
from pipeline.settings import Settings
from pipeline.wiring import open_store
from tests.conftest import TEST_PEPPER, admin_key
from tests.support.brokers import BROKERS, broker_for
from tests.support.servers import redis_url
from tests.support.waiting import wait_for
from triage_cli.demo import demo_routing_file
from triage_cli.stub_departments import StubDepartments, serve_in_thread

pytestmark = pytest.mark.integration
REDIS_DB = 11
SHARED_REDIS_DB = 10  # the counters' Redis when the broker is RabbitMQ


@pytest.fixture(params=BROKERS)
def real_settings(
    request: pytest.FixtureRequest, fresh_postgres_url: str, tmp_path: Path
) -> Iterator[tuple[Settings, StubDepartments]]:
    stub = StubDepartments()
    with broker_for(request.param, REDIS_DB) as broker, serve_in_thread(stub) as departments_url:
        yield (
            Settings(
                database_url=fresh_postgres_url,
                broker_url=broker.url,
                redis_url=None if broker.name == "redis" else redis_url(SHARED_REDIS_DB),
                classifier="local",
                routing_file=demo_routing_file(tmp_path, departments_url),
                api_key_pepper=TEST_PEPPER,
            ),
            stub,
        )


def worker_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        TRIAGE_DATABASE_URL=settings.database_url,
        TRIAGE_BROKER_URL=settings.broker_url,
        TRIAGE_REDIS_URL=settings.redis_url or "",
        TRIAGE_CLASSIFIER="local",
        TRIAGE_ROUTING_FILE=str(settings.routing_file),
        TRIAGE_LOG_FORMAT="json",
    )
    return env


@pytest.fixture
def worker_process(
    real_settings: tuple[Settings, StubDepartments],
) -> Iterator[subprocess.Popen[bytes]]:
    settings, _ = real_settings
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "triage_cli",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            "4",
            "--loglevel",
            "WARNING",
        ],
        env=worker_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_tickets_through_api_worker_process_broker_and_postgres(
    real_settings: tuple[Settings, StubDepartments], worker_process: subprocess.Popen[bytes]
) -> None:
    settings, stub = real_settings
    store = open_store(settings)
    samples = load_sample_tickets()[:40]
    with (
        serve_in_thread(create_app(settings, store=store)) as api_url,
        httpx.Client(base_url=api_url, headers={"X-API-Key": admin_key(store)}) as client,
    ):
        ids = [client.post("/tickets", json=s.as_ingest_payload()).json()["id"] for s in samples]

        def all_final() -> bool:
            assert worker_process.poll() is None, worker_process.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            counts = store.count_by_status(ids)
            return sum(n for s, n in counts.items() if s in FINAL_STATUSES) == len(ids)

        wait_for(all_final, timeout=90, interval=0.2, what="40 tickets final")
        logs = client.get(f"/tickets/{ids[0]}/logs").json()["events"]

    counts = store.count_by_status(ids)
    assert counts.get("failed", 0) == 0
    assert counts.get("done", 0) + counts.get("needs_review", 0) == 40
    assert [e["event"] for e in logs] == ["received", "classified", "delivered", "closed"]
    assert logs[1]["detail"]["classifier"] == "local"
    received = stub.snapshot()
    assert sorted(d.body["id"] for d in received) == sorted(ids)
    assert stub.duplicates() == 0
    store.engine.dispose()
