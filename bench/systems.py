"""The systems under test (pipeline, memory, backfill, trace) and the phases they go through.

One `System` class; the three variants are data (worker commands, how a ticket is submitted,
where its end is seen), built by `ours`, `minimal` and `bare`:
- ours: `triage worker` with the Gemini classifier on the stub LLM and the stub departments;
  tickets stored with the product's own `TicketStore.accept` and published with
  `enqueue_after_commit`, as the API does;
- minimal and bare: the baseline chains of `bench.baselines.chains`, on plain `celery worker`.
Every worker runs with the same pool and concurrency.

Throughput (burst): the worker is paused (SIGSTOP), N tickets are stored and published, the
worker is resumed and timed until the last ticket is final: tickets/s = N / that time.
Latency (paced): tickets arrive at a fixed rate (open loop), ingest->final read from the store.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import redis

from bench.common import (
    API_KEY_PEPPER,
    PYTHON,
    Stubs,
    percentile,
    product_env,
    redis_url,
    say,
    sqlalchemy_url,
    wait_until,
)
from bench.processes import Service, cpu_seconds, quit_all, start_service

POOL, CONCURRENCY = "threads", 8
FINAL = ("done", "needs_review", "failed")
EPOCHS = "extract(epoch FROM received_at)::float8, extract(epoch FROM finished_at)::float8"
SUBJECTS = ["Charged twice for my order", "Invoice shows the wrong VAT",
            "Payment failed but money was taken", "Need a receipt for my subscription"]  # fmt: skip
BODIES = [
    "My card shows two identical charges for the same invoice this month.",
    "The invoice for March lists VAT at the wrong rate for my country.",
    "The checkout said the payment failed, yet my bank shows the amount as taken.",
    "Please send me a receipt for the annual plan I paid last week.",
]
Command = tuple[str, list[str], dict[str, str]]  # a process: name, argv, environment


@dataclasses.dataclass
class System:
    """One pipeline under test: its worker processes, how a ticket is submitted and seen to end.

    Tickets are rows of `table` (with a status and ingest/final times) unless `table` is None:
    then (bare) the chain's last task appends "<sent> <done>" to the Redis list DONE_KEY.
    """

    name: str
    commands: list[Command]  # the first is the worker that is timed
    submit_one: Callable[[int], str]  # ticket number -> token for `finished` and `timings`
    stubs: Stubs
    log_dir: Path
    dsn: str = ""
    table: str | None = "tickets"
    final: tuple[str, ...] = FINAL
    cast: str = ""
    closing: ExitStack = dataclasses.field(default_factory=ExitStack)
    services: list[Service] = dataclasses.field(default_factory=list)
    numbers: Iterator[int] = dataclasses.field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        if self.table is not None:  # psycopg connections are thread-safe
            self.db = self.closing.enter_context(psycopg.connect(self.dsn, autocommit=True))
        self.redis = redis.Redis.from_url(redis_url())
        self.closing.callback(self.redis.close)

    @property
    def worker(self) -> Service:
        """The timed worker process."""
        return self.services[0]

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of one query on the run's database."""
        return self.db.execute(sql, params).fetchall()  # type: ignore[arg-type]

    def set_llm_latency(self, seconds: float) -> None:
        """What the LLM (stub or sleep) costs per ticket from now on."""
        self.stubs.latency_s = seconds

    def submit(self) -> str:
        """Store and publish one ticket; its token."""
        return self.submit_one(next(self.numbers))

    def finished(self, tokens: list[str]) -> int:
        """How many of these tickets are final."""
        if self.table is None:
            from bench.baselines.chains import DONE_KEY

            return int(self.redis.llen(DONE_KEY))  # type: ignore[arg-type]
        sql = f"SELECT count(*) FROM {self.table} WHERE id = ANY(%s{self.cast})"
        return int(self.query(sql + " AND status = ANY(%s)", (tokens, list(self.final)))[0][0])

    def timings(self, tokens: list[str]) -> list[tuple[float, float]]:
        """(ingest, final) epoch seconds of each finished ticket."""
        if self.table is None:
            from bench.baselines.chains import DONE_KEY

            entries: list[bytes] = self.redis.lrange(DONE_KEY, 0, -1)  # type: ignore[assignment]
            return [(float(sent), float(done)) for sent, done in (e.split() for e in entries)]
        sql = f"SELECT {EPOCHS} FROM {self.table} WHERE id = ANY(%s{self.cast})"
        rows = self.query(sql + " AND finished_at IS NOT NULL", (tokens,))
        return [(float(a), float(b)) for a, b in rows]

    def statuses(self, tokens: list[str] | None = None) -> dict[str, int]:
        """Our tickets by status (these, or all): every one should end `done`."""
        where, params = ("WHERE id = ANY(%s)", (tokens,)) if tokens is not None else ("", ())
        rows = self.query(f"SELECT status, count(*) FROM tickets {where} GROUP BY status", params)
        return {str(s): int(n) for s, n in rows}

    def reset(self) -> None:
        """Between phases: forget per-phase markers (bare's list of finished chains)."""
        if self.table is None:
            from bench.baselines.chains import DONE_KEY

            self.redis.delete(DONE_KEY)

    def close(self) -> None:
        """Release this process's connections."""
        self.closing.close()

    def start(self, stack: ExitStack) -> Any:
        """Start the workers now; the returned block is their turn, after which they quit."""
        say(f"{self.name}: starting its worker ({POOL} x {CONCURRENCY})")
        self.services = [
            start_service(n, argv, env, self.log_dir) for n, argv, env in self.commands
        ]
        stack.callback(quit_all, self.services)  # on any error too
        return self.turn()

    @contextmanager
    def turn(self) -> Iterator[None]:
        """The system's turn: its worker runs (resumed if paused) and quits at the end."""
        self.worker.resume()
        try:
            yield
        finally:
            quit_all(self.services)  # every ticket is final by now: a cold shutdown loses nothing

    def drain(self, tokens: list[str], timeout: float, what: str) -> None:
        """Wait until every ticket is final, checking that the workers live."""

        def done() -> bool:
            for service in self.services:
                service.check()
            return self.finished(tokens) >= len(tokens)

        try:
            wait_until(done, timeout, what)
        except TimeoutError as error:
            left = len(tokens) - self.finished(tokens)
            raise TimeoutError(f"{error} ({left} of {len(tokens)} not final)") from None

    def warm_up(self, count: int) -> None:
        """First tickets after start: loads models, opens pools, proves the worker consumes."""
        self.reset()
        tokens = [self.submit() for _ in range(count)]
        self.drain(tokens, timeout=120, what=f"{self.name}'s warm-up tickets")

    def queue_paused(self, count: int) -> list[str]:
        """Submit `count` tickets while the worker is stopped (SIGSTOP); it stays stopped."""
        self.reset()
        self.worker.pause()
        try:
            return [self.submit() for _ in range(count)]
        except BaseException:
            self.worker.resume()
            raise

    def burst(self, count: int) -> dict[str, Any]:
        """Queue `count` tickets with the worker paused, resume, time until all are final."""
        tokens = self.queue_paused(count)
        self.worker.resume()
        released = time.time()
        cpu_before = cpu_seconds(self.worker.pids())
        self.drain(tokens, timeout=60 + count * 0.5, what=f"{self.name}'s burst")
        elapsed = time.time() - released
        cpu = cpu_seconds(self.worker.pids()) - cpu_before
        finishes = sorted(done for _, done in self.timings(tokens))
        # Finished times come from the store, so the poll interval adds nothing to the figure.
        span = (finishes[-1] - released) if finishes else elapsed
        return {
            "tickets": count,
            "seconds": round(span, 3),
            "tickets_per_s": round(count / span, 2) if span > 0 else None,
            "worker_cpu_ms_per_ticket": round(cpu * 1000 / count, 2),
            "tokens": tokens,
        }

    def paced(self, rate: float, count: int) -> dict[str, Any]:
        """Submit `count` tickets at `rate` per second (open loop); latency ingest->final."""
        self.reset()
        tokens: list[str] = []
        started_at = time.monotonic()
        for i in range(count):
            delay = started_at + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            tokens.append(self.submit())
        self.drain(tokens, timeout=60 + count * 0.5, what=f"{self.name}'s paced run")
        latencies = [(done - ingest) * 1000 for ingest, done in self.timings(tokens)]
        return {
            "rate_per_s": round(rate, 2),
            "tickets": count,
            "p50_ms": round(percentile(latencies, 50), 1),
            "p95_ms": round(percentile(latencies, 95), 1),
            "max_ms": round(max(latencies), 1) if latencies else None,
        }


def our_env(dsn: str, stubs: Stubs, log_dir: Path, name: str, **extra: str) -> dict[str, str]:
    """Our settings for one process (its own Prometheus directory)."""
    metrics_dir = tempfile.mkdtemp(prefix=f"metrics-{name}-", dir=log_dir)
    routing = str(stubs.routing_file)
    extra |= {"TRIAGE_ROUTING_FILE": routing, "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
    return product_env(dsn, **extra)


def ours(dsn: str, stubs: Stubs, log_dir: Path, commands: list[Command] | None = None) -> System:
    """`triage worker` with the Gemini classifier on the stub LLM (or these `commands`)."""
    from pydantic import SecretStr

    from pipeline.domain.models import TicketSubmission, payload_fingerprint
    from pipeline.settings import ClassifierChoice, Settings
    from pipeline.wiring import open_store
    from workers.celery_app import create_celery_app
    from workers.chains import enqueue_after_commit

    settings = Settings(
        database_url=sqlalchemy_url(dsn),
        broker_url=redis_url(),
        api_key_pepper=SecretStr(API_KEY_PEPPER),
        routing_file=stubs.routing_file,
        classifier=ClassifierChoice.local,  # this process only stores and publishes
    )
    store = open_store(settings)  # migrates the empty database
    app = create_celery_app(settings)
    nonce = uuid.uuid4().hex[:8]  # text unique to this run: the decision cache misses

    def submit(index: int) -> str:
        body = {
            "external_id": f"{nonce}-{index}",
            "subject": SUBJECTS[index % len(SUBJECTS)],
            "description": f"Ticket {nonce}-{index}: {BODIES[index % len(BODIES)]}",
            "customer_id": f"cus_{index % 97}",
        }
        acceptance = store.accept(
            TicketSubmission.model_validate(body),
            source="bench",
            idempotency_key=body["external_id"],
            payload_hash=payload_fingerprint(body),
        )
        enqueue_after_commit(app, acceptance.ticket.id)
        return acceptance.ticket.id

    if commands is None:
        argv = [PYTHON, "-m", "triage_cli", "worker", "--queues", "live,backfill"]
        argv += ["--pool", POOL, "--concurrency", str(CONCURRENCY), "--metrics-port", "0"]
        env = our_env(
            dsn, stubs, log_dir, "worker-ours", TRIAGE_CLASSIFIER="gemini",
            TRIAGE_GEMINI_BASE_URL=stubs.gemini_url, GEMINI_API_KEY="bench-not-a-key",
        )  # fmt: skip
        commands = [("worker-ours", argv, env)]
    system = System("ours", commands, submit, stubs, log_dir, dsn)
    system.closing.callback(store.engine.dispose)
    return system


def celery_command(app: str, queue: str, env: dict[str, str]) -> Command:
    """A plain `celery worker` on a baseline app with our pool, concurrency and log level."""
    argv = [PYTHON, "-m", "celery", "-A", f"bench.baselines.chains:{app}", "worker"]
    argv += [f"--pool={POOL}", f"--concurrency={CONCURRENCY}", f"--queues={queue}"]
    argv += ["--loglevel=INFO", f"--hostname={app}@%h"]  # not celery@host: that one is ours
    return f"worker-{app}", argv, {"BENCH_BROKER_URL": redis_url(), **env}


def minimal(dsn: str, stubs: Stubs, log_dir: Path) -> System:
    """The minimal chain: one UPDATE per stage, the same stub POST, the LLM latency slept."""
    os.environ["BENCH_BROKER_URL"] = redis_url()  # read by the baseline app on import
    from bench.baselines import DDL
    from bench.baselines.chains import MINIMAL_QUEUE, submit_minimal

    department = f"{stubs.departments_url}/departments/finance"
    env = {"BENCH_DSN": dsn, "BENCH_DEPARTMENT_URL": department}
    submit_db = psycopg.connect(dsn)
    system = System(
        "minimal", [celery_command("minimal", MINIMAL_QUEUE, env)],
        lambda index: submit_minimal(submit_db, index, stubs.latency_s),
        stubs, log_dir, dsn, table="bench_tickets", final=("done",), cast="::uuid[]",
    )  # fmt: skip
    system.closing.callback(submit_db.close)
    system.db.execute(DDL)
    return system


def bare(stubs: Stubs, log_dir: Path) -> System:
    """Three no-op tasks; the last one appends its times to a Redis list."""
    os.environ["BENCH_BROKER_URL"] = redis_url()  # read by the baseline app on import
    from bench.baselines.chains import BARE_QUEUE, submit_bare

    def submit(index: int) -> str:
        submit_bare(str(index))
        return str(index)

    command = celery_command("bare", BARE_QUEUE, {})
    return System("bare", [command], submit, stubs, log_dir, table=None)
