"""Three hosts: the API on one, a worker on each of two others; one worker host dies mid-run.

The hosts are network namespaces on a bridge (tests/multihost/network.py); each reaches
PostgreSQL, the broker and Redis across that network, through forwarders in the root
namespace. 1,000 tickets go in over HTTP; one worker host is killed outright (every process
in its namespace); the survivor finishes the rest: none lost, none doubled.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline.domain.operator import Role
from pipeline.operations.api_keys import create_key
from pipeline.settings import Settings
from pipeline.wiring import open_store
from tests.conftest import TEST_PEPPER
from tests.faults.rig import FAULT_ENV, FaultRig, in_background
from tests.multihost.network import Host, forwarders, namespaces_unavailable, virtual_network
from tests.support.brokers import BROKERS, broker_with_counters
from tests.support.servers import postgres_database
from tests.support.waiting import wait_for
from triage_cli.demo import demo_routing_file
from triage_cli.stub_departments import StubDepartments, serve_in_thread

pytestmark = pytest.mark.integration
TICKETS = 1000
REDIS_DB = 10  # the broker (redis) or the counters beside RabbitMQ
SERVICE_PORTS = [5432, 6379, 5672]


class SourceRecorder:
    """WSGI middleware: which host (remote address) delivered which ticket, in order."""

    def __init__(self, app: StubDepartments) -> None:
        self.app = app
        self.sources: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(raw)
        try:
            ticket_id = str(json.loads(raw)["id"])
        except (ValueError, KeyError, TypeError):
            ticket_id = "?"
        response = self.app(environ, start_response)
        with self._lock:
            self.sources.append((environ.get("REMOTE_ADDR", "?"), ticket_id))
        return response

    def snapshot(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self.sources)


@pytest.fixture
def network() -> Iterator[Any]:
    """The three hosts, or a skip saying why they cannot be made (a failure under CI)."""
    reason = namespaces_unavailable()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"network namespaces unavailable under CI: {reason}")
        pytest.skip(reason)
    with virtual_network(["api", "w1", "w2"]) as net:
        yield net


def _start(host: Host, logs: Path, name: str, env: dict[str, str], *args: str) -> None:
    log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - the process owns it
    subprocess.Popen(
        host.command(sys.executable, "-m", "triage_cli", *args),
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _worker(host: Host, logs: Path, name: str, env: dict[str, str]) -> None:
    _start(
        host, logs, name, env, "worker", "--pool", "threads", "--concurrency", "8",
        "--loglevel", "WARNING", "--metrics-port", "0",
    )  # fmt: skip


def _via(url: str, gateway: str) -> str:
    return url.replace("127.0.0.1", gateway)


@pytest.mark.parametrize("broker_kind", BROKERS)
def test_one_worker_host_dies_the_other_finishes(
    network: Any, broker_kind: str, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    api, w1, w2 = network.hosts["api"], network.hosts["w1"], network.hosts["w2"]
    department = StubDepartments()
    recorder = SourceRecorder(department)
    with ExitStack() as stack:
        database_url = stack.enter_context(postgres_database())
        broker, shared = stack.enter_context(broker_with_counters(broker_kind, REDIS_DB))
        stack.enter_context(forwarders(network.gateway, SERVICE_PORTS))
        departments_url = stack.enter_context(serve_in_thread(recorder, host=network.gateway))
        env = {
            **FAULT_ENV,
            "TRIAGE_DATABASE_URL": _via(database_url, network.gateway),
            "TRIAGE_BROKER_URL": _via(broker.url, network.gateway),
            **({"TRIAGE_REDIS_URL": _via(shared, network.gateway)} if shared else {}),
            "TRIAGE_ROUTING_FILE": str(demo_routing_file(tmp_path, departments_url)),
            "TRIAGE_CLASSIFIER": "local",
            "TRIAGE_API_KEY_PEPPER": TEST_PEPPER,
        }
        settings = Settings(database_url=database_url, broker_url=broker.url)
        store = open_store(settings)  # migrated here, before any host starts
        stack.callback(store.engine.dispose)
        key = create_key(store, TEST_PEPPER.encode(), "multihost", Role.producer, "multihost")
        api_url = f"http://{api.address}:8000"
        _start(api, logs, "api", env, "api", "--bind", f"{api.address}:8000", "--workers", "2")
        _start(api, logs, "beat", env, "beat", "--loglevel", "WARNING",
               "--schedule", str(logs / "beat.db"))  # fmt: skip
        _worker(w1, logs, "w1", env)
        _worker(w2, logs, "w2", env)
        wait_for(lambda: _ready(api_url), timeout=60, interval=0.2, what="the API host")
        rig = FaultRig(settings, env, store, department, api_url, key, logs, broker)

        ids: list[str] = []
        load = in_background(lambda: ids.extend(rig.submit(TICKETS, prefix="hosts", threads=8)))

        def both_delivering() -> bool:
            sources = {source for source, _ in recorder.snapshot()}
            return len(recorder.snapshot()) >= 250 and {w1.address, w2.address} <= sources

        wait_for(both_delivering, timeout=90, interval=0.2, what="both worker hosts delivering")
        assert w1.kill_everything() > 0  # the host is gone: worker, pool, connections
        wait_for(lambda: not w1.pids(), timeout=10, what="the dead host's processes gone")
        at_kill = len(recorder.snapshot())

        load.join(timeout=120)
        assert len(ids) == TICKETS
        rig.wait_drained(ids, timeout=120)
        result = rig.report(f"host_killed_{broker_kind}", ids)

    assert result["lost"] == 0, result
    assert result["duplicates"] == 0, result
    assert result["incomplete_trails"] == 0, result
    assert result["failed"] == 0, result
    after = recorder.snapshot()[at_kill:]
    assert after, "the survivor should have delivered the rest"
    assert {source for source, _ in after} == {w2.address}  # only the surviving host
    delivered = {ticket for _, ticket in recorder.snapshot()}
    assert delivered == set(ids)


def _ready(api_url: str) -> bool:
    try:
        return httpx.get(f"{api_url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
