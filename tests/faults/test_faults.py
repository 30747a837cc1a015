"""The fault suite: every accepted ticket ends final, none lost, none doubled, trails complete."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from tests.faults.conftest import FAULT_LLM_REDIS_DB, FAULT_REDIS_DB
from tests.faults.rig import FaultRig, fault_rig, in_background
from tests.support.brokers import (
    RabbitBroker,
    RedisBroker,
    broker_with_counters,
    rabbitmq_vhost,
    rabbitmqctl,
    wait_rabbitmq_up,
)
from tests.support.processes import free_port
from tests.support.servers import require_server
from tests.support.waiting import wait_for

pytestmark = pytest.mark.faults
TICKETS = 500


def finished(rig: FaultRig) -> int:
    """Tickets in a final state so far (each case has a database of its own)."""
    counts = rig.store.count_by_status()
    return sum(n for s, n in counts.items() if s in ("done", "needs_review", "failed"))


def assert_clean(result: dict[str, int], *, failed_allowed: bool = False) -> None:
    assert result["lost"] == 0, result
    assert result["duplicates"] == 0, result
    assert result["incomplete_trails"] == 0, result
    if not failed_allowed:
        assert result["failed"] == 0, result


def test_worker_main_process_sigkill(rig: FaultRig) -> None:
    rig.start("beat", "beat", "--loglevel", "WARNING", "--schedule", str(rig.logs / "beat.db"))
    ids: list[str] = []
    load = in_background(lambda: ids.extend(rig.submit(TICKETS, prefix="kill")))
    broker = rig.broker
    # A backlog first, so the victim always holds reserved messages when it dies.
    wait_for(lambda: broker.ready("live") >= 100, timeout=120, what="a backlog on the live queue")
    rig.start_worker("victim", pool="prefork")
    wait_for(
        lambda: rig.store.count_by_status().get("done", 0) >= 20 and broker.unacked() > 0,
        timeout=120,
        what="the victim to be busy with messages reserved",
    )
    in_flight = broker.unacked()
    victim = rig.processes.pop("victim")
    os.kill(victim.pid, signal.SIGKILL)  # the main process only: its pool children orphaned
    victim.wait(timeout=30)
    # Messages the victim had taken but not acknowledged: Redis gives them back after the
    # visibility timeout (RabbitMQ as soon as the connection drops), and the sweeper
    # re-enqueues their tickets after its deadline.
    if broker.name == "redis":
        in_flight = broker.unacked()  # still held by the dead worker
    rig.start_worker("survivor")
    load.join(timeout=300)
    rig.wait_drained(ids, timeout=240)
    result = rig.report("worker_sigkill", ids)
    assert_clean(result)
    assert in_flight > 0, "the kill should have caught messages in flight"


def test_department_503_for_30s_then_recovers(rig: FaultRig) -> None:
    rig.start("beat", "beat", "--loglevel", "WARNING", "--schedule", str(rig.logs / "beat.db"))
    rig.start_worker()
    ids: list[str] = []
    load = in_background(lambda: ids.extend(rig.submit(TICKETS, prefix="dept")))
    wait_for(lambda: len(rig.department.snapshot()) >= 50, timeout=120, what="deliveries")
    rig.department.fail_with = 503
    outage_started = time.monotonic()
    wait_for(
        lambda: time.monotonic() - outage_started >= 30,
        timeout=40,
        interval=0.5,
        what="the 30 s outage",
    )
    rig.department.fail_with = None
    load.join(timeout=300)
    rig.wait_drained(ids, timeout=240)
    result = rig.report("department_503_30s", ids)
    assert_clean(result)
    assert result["retried"] > 0  # the outage was felt, and ridden out
    assert len({d.body["id"] for d in rig.department.snapshot()}) == TICKETS


def test_postgres_connections_dropped_mid_run(rig: FaultRig, fresh_postgres_url: str) -> None:
    rig.start("beat", "beat", "--loglevel", "WARNING", "--schedule", str(rig.logs / "beat.db"))
    rig.start_worker()
    ids: list[str] = []
    load = in_background(lambda: ids.extend(rig.submit(TICKETS, prefix="pg")))
    admin = create_engine(
        fresh_postgres_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT"
    )
    database = fresh_postgres_url.rsplit("/", 1)[1]
    terminated = 0
    for drop in range(1, 4):
        target = 60 * drop
        wait_for(
            lambda target=target: finished(rig) >= target,  # type: ignore[misc]
            timeout=120,
            what="progress before the next drop",
        )
        with admin.connect() as connection:
            terminated += connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid()"
                ),
                {"db": database},
            ).scalar_one()
        # Our own pooled connections were dropped too: without pre-ping, start afresh.
        rig.store.engine.dispose()
    admin.dispose()
    load.join(timeout=300)
    rig.wait_drained(ids, timeout=240)
    assert terminated > 0
    assert_clean(rig.report("postgres_connections_dropped", ids))


def _redis_server(binary: str, port: int, folder: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[RedisBroker, Callable[[], None]]]:
    """A redis-server of our own on another port, and how to restart it empty."""
    require_server("127.0.0.1", 6379, "Redis")  # the machine's Redis tells us redis is here
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server binary not found")
        pytest.skip("redis-server binary not found")
    port = free_port()
    processes = [_redis_server(binary, port, tmp_path)]
    wait_for(lambda: _pings(port), timeout=10, what="private redis up")

    def restart() -> None:
        processes[-1].kill()  # gone, with every message it held
        processes[-1].wait(timeout=10)
        time.sleep(2)  # an outage of a couple of seconds while tickets keep arriving
        processes.append(_redis_server(binary, port, tmp_path))
        wait_for(lambda: _pings(port), timeout=10, what="redis back")

    yield RedisBroker(f"redis://127.0.0.1:{port}/0"), restart
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def _pings(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def rabbitmq_to_restart() -> Iterator[tuple[RabbitBroker, Callable[[], None]]]:
    """A private vhost, and how to restart the machine's RabbitMQ under it.

    `rabbitmqctl stop_app` / `start_app`: the broker process stays up but every listener,
    connection and channel goes and comes back (a real restart for every client; quorum
    queues recover from their logs) in about 3 s, where restarting the whole node also pays
    the Erlang VM's boot. Nothing else uses this RabbitMQ while the fault suite runs.
    """
    with rabbitmq_vhost("triage-faults") as broker:

        def restart() -> None:
            broker.restart()
            wait_rabbitmq_up()

        try:
            yield broker, restart
        finally:  # whatever happened, leave RabbitMQ running
            with contextlib.suppress(Exception):
                rabbitmqctl("start_app")
            wait_rabbitmq_up()


@pytest.fixture(params=["redis", "rabbitmq"])
def restartable_broker(
    request: pytest.FixtureRequest,
) -> tuple[RedisBroker | RabbitBroker, Callable[[], None]]:
    """A broker this case may restart: a private Redis (comes back empty), or RabbitMQ."""
    fixture = "private_redis" if request.param == "redis" else "rabbitmq_to_restart"
    return request.getfixturevalue(fixture)  # type: ignore[no-any-return]


def test_broker_restart_during_ingest(
    tmp_path: Path,
    fresh_postgres_url: str,
    restartable_broker: tuple[RedisBroker | RabbitBroker, Callable[[], None]],
) -> None:
    broker, restart = restartable_broker
    with broker_with_counters("redis", FAULT_REDIS_DB) as (counters, _):
        shared = None if broker.name == "redis" else counters.url
        with fault_rig(tmp_path, fresh_postgres_url, broker, shared) as rig:
            rig.start(
                "beat", "beat", "--loglevel", "WARNING", "--schedule", str(rig.logs / "beat.db")
            )
            rig.start_worker()
            ids: list[str] = []
            load = in_background(
                lambda: ids.extend(rig.submit(TICKETS, prefix="restart", threads=2))
            )
            wait_for(
                lambda: len(ids) > 0 or rig.store.count_by_status().get("done", 0) >= 100,
                timeout=120,
                what="load under way",
            )
            restart()  # Redis comes back empty; RabbitMQ with its quorum queues' messages
            load.join(timeout=300)
            rig.wait_drained(ids, timeout=300)
            result = rig.report(f"{broker.name}_restart", ids)
            assert_clean(result)
            if broker.name == "redis":
                # What Redis lost, the store's sweeper put back.
                assert result["requeued"] > 0
            else:
                # Quorum queues keep their messages: the worker only had to reconnect.
                log = (rig.logs / "worker.log").read_text()
                assert "Connection to broker lost" in log, log[-2000:]


def test_llm_answers_429_for_a_burst(
    tmp_path: Path, fresh_postgres_url: str, broker_kind: str
) -> None:
    from pipeline.testing.gemini_responses import error_response
    from pipeline.testing.gemini_stub import running_stub

    with (
        broker_with_counters(broker_kind, FAULT_LLM_REDIS_DB) as (broker, shared),
        running_stub() as stub,
        fault_rig(tmp_path, fresh_postgres_url, broker, shared) as rig,
    ):
        rig.env.update(
            TRIAGE_CLASSIFIER="gemini",
            GEMINI_API_KEY="stub-key",
            TRIAGE_GEMINI_BASE_URL=stub.url,
            TRIAGE_LLM_REQUESTS_PER_MINUTE="100000",
        )
        stub.enqueue(*[error_response(429, "RESOURCE_EXHAUSTED", retry_delay="1s")] * 150)
        rig.start("beat", "beat", "--loglevel", "WARNING", "--schedule", str(rig.logs / "beat.db"))
        rig.start_worker()
        ids = rig.submit(TICKETS, prefix="llm")
        rig.wait_drained(ids, timeout=240)
        result = rig.report("llm_429_burst", ids)
        assert_clean(result)
        assert result["retried"] >= 150  # every 429 was an attempt the task retried
        assert len(stub.recorded()) >= TICKETS + 150


def test_sigterm_lets_running_tasks_finish(rig: FaultRig) -> None:
    rig.department.delay_s = 2.0  # deliveries in flight when the signal comes
    # The sweeper, as in production: a publish the broker refused is its job, not this case's.
    rig.start("beat", "beat", "--loglevel", "WARNING", "--schedule", str(rig.logs / "beat.db"))
    rig.start_worker("graceful")
    ids = rig.submit(6, prefix="term")
    wait_for(
        lambda: rig.department.started >= 1, timeout=60, interval=0.05, what="a delivery in flight"
    )
    rig.kill("graceful", signal.SIGTERM)  # warm shutdown: running tasks complete first
    started_before_exit = rig.department.started
    completed = len(rig.department.snapshot())
    assert completed >= 1 and completed == started_before_exit  # none cut off mid-request
    rig.department.delay_s = 0
    rig.start_worker("after")
    rig.wait_drained(ids, timeout=120)
    result = rig.report("worker_sigterm", ids)
    assert_clean(result)
    assert result["redelivered"] == 0  # nothing the first worker had started was sent again
