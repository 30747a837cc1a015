"""`triage status`: current statuses, retrying tickets, open circuits, outages in words."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.adapters.circuit import RedisCircuitBreaker
from pipeline.adapters.redis_client import redis_client
from pipeline.domain.errors import DepartmentUnavailable
from pipeline.domain.lifecycle import Stage
from pipeline.settings import Settings
from pipeline.stages.failures import record_failed_attempt
from pipeline.store.tickets import TicketStore
from pipeline.wiring import open_store
from tests.support.servers import redis_url
from tests.support.statuses import REFUSED, populate
from triage_cli.main import main

REDIS_DB = 9  # this module's own Redis database


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TicketStore]:
    monkeypatch.setenv("TRIAGE_DATABASE_URL", f"sqlite:///{tmp_path / 'status.db'}")
    monkeypatch.delenv("TRIAGE_REDIS_URL", raising=False)
    store = open_store(Settings())
    yield store
    store.engine.dispose()


@pytest.fixture
def redis(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = redis_url(REDIS_DB)  # skips without Redis locally, fails under CI
    redis_client(url).flushdb()
    monkeypatch.setenv("TRIAGE_BROKER_URL", url)
    yield url
    redis_client(url).flushdb()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def status() -> list[str]:
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.stdout.splitlines()


def test_status_shows_retrying_tickets_with_their_error_and_the_open_circuit(
    store: TicketStore, redis: str
) -> None:
    made = populate(store)
    RedisCircuitBreaker(redis_client(redis), threshold=1, cooldown_s=120).record_failure("finance")
    redis_client(redis).rpush("live", b"m1")

    lines = status()

    assert "queues          live 1 waiting   backfill 0 waiting" in lines
    assert "tickets now     in flight  received 1   classified 3   routed 0" in lines
    assert "                final      done 3   needs_review 0   failed 1" in lines
    assert "last hour       received 8; finished done 3, needs_review 0, failed 1" in lines
    assert "retrying        3 tickets whose current stage failed and will be tried again" in lines
    [refused] = [line for line in lines if REFUSED in line]
    assert re.fullmatch(rf"\s+2  in 9m5\ds\s+\d+s\s+DepartmentUnavailable: {REFUSED}", refused)
    assert any(
        re.fullmatch(r"\s+1  Celery retry\s+\d+s\s+DepartmentUnavailable: 503", x) for x in lines
    )
    example = lines[lines.index(refused) + 2]
    assert example.removeprefix("  one of them: triage ticket show ") in made.deferred
    [circuits] = [line for line in lines if line.startswith("open circuits")]
    assert re.fullmatch(r"open circuits   finance \(closes in (1m5\ds|2m00s)\)", circuits)
    assert "failed (24 h)   by last error" in lines
    assert all(len(line) <= 100 for line in lines)


def test_every_line_fits_100_columns_whatever_the_errors_and_departments(
    store: TicketStore, redis: str
) -> None:
    ticket = populate(store).waiting
    breaker = RedisCircuitBreaker(redis_client(redis), threshold=1, cooldown_s=3600)
    for i in range(12):
        breaker.record_failure(f"a-department-with-a-long-name-{i}")
    long_error = DepartmentUnavailable("upstream said:\n" + "x" * 400 + "\nand more")
    record_failed_attempt(store, ticket, Stage.classify, long_error, attempt=1, retry_in_s=30)

    lines = status()

    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    circuit_lines = [line for line in lines if "a-department-with-a-long-name" in line]
    assert sum(line.count("closes in") for line in circuit_lines) == 12  # wrapped, not cut
    [first] = [i for i, line in enumerate(lines) if "upstream said: xxx" in line]
    assert lines[first + 1].startswith(" " * 30) and lines[first + 1].endswith("x…")


def test_redis_down_is_said_in_a_sentence(
    store: TicketStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    monkeypatch.setenv("TRIAGE_BROKER_URL", f"redis://127.0.0.1:{port}/0")
    populate(store)

    lines = status()

    assert lines[1] == f"Redis at 127.0.0.1:{port} unreachable: queue depths and circuits unknown"
    assert f"queues          unknown: Redis at 127.0.0.1:{port} unreachable" in lines
    assert "n/a" not in "\n".join(lines)
    assert "tickets now     in flight  received 1   classified 3   routed 0" in lines


def test_without_redis_circuits_are_unknown_not_none(
    store: TicketStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAGE_BROKER_URL", "memory://")

    lines = status()

    assert (
        "open circuits   unknown here: without Redis (TRIAGE_REDIS_URL) each worker keeps its own"
        in lines
    )
    assert any(line.startswith("queues          unknown for a memory:// broker") for line in lines)


def test_store_down_is_one_line_and_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "TRIAGE_DATABASE_URL", f"postgresql+psycopg://postgres:s3cret@127.0.0.1:{closed_port()}/x"
    )
    monkeypatch.setenv("TRIAGE_BROKER_URL", "memory://")

    result = CliRunner().invoke(main, ["status"])

    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert "is unreachable" in line and "TRIAGE_DATABASE_URL" in line and "s3cret" not in line
