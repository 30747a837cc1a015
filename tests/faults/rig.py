"""The fault rig: real API (HTTP), real worker and beat processes, a broker (Redis or RabbitMQ),
PostgreSQL, a department.

Each case pushes tickets through the HTTP API, injects one fault, waits (with a deadline) for
the pipeline to drain, and reports lost and doubled tickets from the store and the department.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ingest_api.app import create_app
from pipeline.domain.lifecycle import FINAL_STATUSES
from pipeline.domain.operator import Role
from pipeline.operations.api_keys import create_key
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore
from pipeline.wiring import open_store
from tests.conftest import TEST_PEPPER
from tests.support.brokers import Broker
from tests.support.waiting import wait_for
from triage_cli.demo import demo_routing_file
from triage_cli.stub_departments import StubDepartments, serve_in_thread

# Short deadlines so a lost message is found in seconds, not the production hour.
FAULT_ENV = {
    "TRIAGE_VISIBILITY_TIMEOUT": "20",
    "TRIAGE_SWEEP_AFTER": "10",
    "TRIAGE_SWEEP_INTERVAL": "2",
    "TRIAGE_RETRY_BACKOFF_MAX_S": "4",
    "TRIAGE_CIRCUIT_COOLDOWN_S": "3",
    "TRIAGE_ROUTE_RETRY_HORIZON_S": "600",
    "TRIAGE_CLASSIFY_MAX_RETRIES": "8",
    "TRIAGE_TASK_SOFT_TIME_LIMIT": "30",
    "TRIAGE_TASK_TIME_LIMIT": "40",
    "TRIAGE_LOG_FORMAT": "json",
    "TRIAGE_LOG_LEVEL": "WARNING",
    "TRIAGE_RATE_LIMIT": "5000/second",
    **({"TRIAGE_LOCAL_MODEL": os.environ["FAULT_MODEL"]} if os.environ.get("FAULT_MODEL") else {}),
}


@dataclass
class FaultRig:
    """Everything one fault case runs against."""

    settings: Settings
    env: dict[str, str]
    store: TicketStore
    department: StubDepartments
    api_url: str
    api_key: str
    logs: Path
    broker: Broker
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """Start `triage ARGS` as a named process (its output in the case's log folder)."""
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed when it ends
        process = subprocess.Popen(
            [sys.executable, "-m", "triage_cli", *args],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def start_worker(self, name: str = "worker", pool: str = "threads") -> None:
        """A worker on both queues."""
        self.start(
            name,
            "worker",
            "--pool",
            pool,
            "--concurrency",
            "8" if pool == "threads" else "2",
            "--loglevel",
            "WARNING",
            "--metrics-port",
            "0",
        )

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal a process's whole group (a worker and its pool children)."""
        process = self.processes.pop(name)
        os.killpg(process.pid, sig)
        process.wait(timeout=60)

    def stop_all(self) -> None:
        for name in list(self.processes):
            process = self.processes[name]
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for name, process in list(self.processes.items()):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            del self.processes[name]

    def submit(self, count: int, *, prefix: str, threads: int = 8) -> list[str]:
        """POST tickets through the HTTP API; retries 503s as a producer would; returns ids."""
        with httpx.Client(
            base_url=self.api_url, headers={"X-API-Key": self.api_key}, timeout=30
        ) as client:

            def post(i: int) -> str:
                body = {
                    "external_id": f"{prefix}-{i}",
                    "subject": SUBJECTS[i % len(SUBJECTS)],
                    "description": f"Ticket {i}: " + BODIES[i % len(BODIES)],
                    "customer_id": f"cus_{i % 97}",
                }
                for _ in range(60):
                    response = client.post("/tickets", json=body)
                    if response.status_code in (200, 202):
                        return str(response.json()["id"])
                    assert response.status_code in (429, 503), response.text
                    time.sleep(float(response.headers.get("Retry-After", "1")) / 5)
                raise AssertionError("store stayed unavailable")

            with ThreadPoolExecutor(threads) as pool:
                return list(pool.map(post, range(count)))

    def wait_drained(self, ids: list[str], timeout: float) -> None:
        """Wait until every ticket is final (fails with the counts at the deadline)."""

        def drained() -> bool:
            counts = self.store.count_by_status(ids)
            return sum(n for s, n in counts.items() if s in FINAL_STATUSES) == len(set(ids))

        try:
            wait_for(drained, timeout=timeout, interval=0.5, what="the pipeline to drain")
        except AssertionError as error:
            raise AssertionError(f"{error}: {self.store.count_by_status(ids)}") from None

    def report(self, fault: str, ids: list[str]) -> dict[str, int]:
        """Count the outcome and print the case's summary line."""
        unique = set(ids)
        counts = self.store.count_by_status(list(unique))
        trails = {ticket_id: self.store.audit_trail(ticket_id) for ticket_id in unique}
        closed = Counter(
            ticket_id for ticket_id, trail in trails.items() for e in trail if e.event == "closed"
        )
        events = Counter(e.event for trail in trails.values() for e in trail)
        deliveries = self.department.snapshot()
        keys_per_ticket: dict[str, set[str | None]] = {}
        for delivery in deliveries:
            keys_per_ticket.setdefault(delivery.body["id"], set()).add(delivery.idempotency_key)
        doubled = (
            sum(1 for keys in keys_per_ticket.values() if len(keys) > 1)
            + sum(1 for n in closed.values() if n > 1)
            + (len(ids) - len(unique))
        )
        result = {
            "accepted": len(unique),
            "done": counts.get("done", 0),
            "needs_review": counts.get("needs_review", 0),
            "failed": counts.get("failed", 0),
            "lost": len(unique) - sum(n for s, n in counts.items() if s in FINAL_STATUSES),
            "duplicates": doubled,
            "redelivered": self.department.duplicates(),
            "requeued": events.get("requeued", 0),
            "retried": events.get("attempt_failed", 0) + events.get("waiting", 0),
            "incomplete_trails": sum(
                1 for t in unique if closed.get(t, 0) == 0 and counts.get("failed", 0) == 0
            ),
        }
        print("fault=" + fault + " " + " ".join(f"{k}={v}" for k, v in result.items()))
        return result


@contextmanager
def fault_rig(
    tmp_path: Path, database_url: str, broker: Broker, redis_url: str | None = None
) -> Iterator[FaultRig]:
    """Department, API and store for one case; processes are started by the case.

    `redis_url`: the counters' Redis when the broker is not Redis (TRIAGE_REDIS_URL).
    """
    department = StubDepartments()
    logs = tmp_path / "logs"
    logs.mkdir()
    with ExitStack() as stack:
        departments_url = stack.enter_context(serve_in_thread(department))
        routing = demo_routing_file(tmp_path, departments_url)
        env = {
            **FAULT_ENV,
            "TRIAGE_DATABASE_URL": database_url,
            "TRIAGE_BROKER_URL": broker.url,
            **({"TRIAGE_REDIS_URL": redis_url} if redis_url else {}),
            "TRIAGE_ROUTING_FILE": str(routing),
            "TRIAGE_CLASSIFIER": "local",
            "TRIAGE_API_KEY_PEPPER": TEST_PEPPER,
        }
        settings = Settings(**{k[len("TRIAGE_") :].lower(): v for k, v in env.items()})
        store = open_store(settings)
        api_url = stack.enter_context(serve_in_thread(create_app(settings, store=store)))
        key = create_key(store, TEST_PEPPER.encode(), "fault-producer", Role.producer, "faults")
        rig = FaultRig(settings, env, store, department, api_url, key, logs, broker)
        try:
            yield rig
        finally:
            rig.stop_all()
            store.engine.dispose()


def in_background(target: object) -> threading.Thread:
    """Run a fault injection beside the load."""
    thread = threading.Thread(target=target, daemon=True)  # type: ignore[arg-type]
    thread.start()
    return thread


SUBJECTS = [
    "Charged twice for my order",
    "Where is my parcel?",
    "App crashes when pairing the hub",
    "Cannot log in after password reset",
    "Suspicious login from another country",
    "Quote for 40 smart plugs",
    "Refund for a returned camera",
    "Love the new dashboard",
]
BODIES = [
    "My card shows two identical charges for the same invoice this month.",
    "Tracking has not moved for six days and the courier does not answer.",
    "The app closes every time I try to add the Northwind Hub 2 over bluetooth.",
    "The reset link works but the login page keeps saying the password is wrong.",
    "I received an alert about a login from an unknown device, please lock my account.",
    "We are furnishing an office and would like volume pricing for smart plugs.",
    "I sent the camera back two weeks ago and still have not seen the money.",
    "Just wanted to say the new energy dashboard is great, thanks!",
]
