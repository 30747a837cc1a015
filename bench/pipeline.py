"""Pipeline bench: tickets end to end through real workers, ours against two baseline chains.

Three systems on the same Redis, PostgreSQL, pool (threads) and concurrency (8):
- ours: `triage worker` with the Gemini classifier pointed at a stub LLM (0 ms or 200 ms per
  request) and every department pointed at a stub receiver; tickets stored with the product's
  own `TicketStore.accept` and published with `enqueue_after_commit`, as the API does;
- minimal: three tasks doing one UPDATE each, the first sleeping the LLM latency, the second
  POSTing to the same stub department (`bench/baselines/minimal_chain.py`);
- bare: three no-op tasks (`bench/baselines/bare_chain.py`).

Throughput (burst): the worker is paused (SIGSTOP), N tickets are stored and published, the
worker is resumed and timed until the last ticket is final: tickets/s = N / that time.
Latency (paced): tickets arrive at a fixed rate, the same for every system (half our burst
rate), and ingest->final is read from the store (ours: finished_at - received_at).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import psycopg
import redis

from bench import profiling
from bench.common import (
    API_KEY_PEPPER,
    PYTHON,
    Service,
    cpu_seconds,
    percentile,
    product_env,
    ratio,
    redis_url,
    rss_mb,
    say,
    sqlalchemy_url,
    start_service,
    wait_until,
)

POOL, CONCURRENCY = "threads", 8
FINAL = ("done", "needs_review", "failed")
EPOCHS = "extract(epoch FROM received_at)::float8, extract(epoch FROM finished_at)::float8"
SUBJECTS = [
    "Charged twice for my order",
    "Invoice shows the wrong VAT",
    "Payment failed but money was taken",
    "Need a receipt for my subscription",
]
BODIES = [
    "My card shows two identical charges for the same invoice this month.",
    "The invoice for March lists VAT at the wrong rate for my country.",
    "The checkout said the payment failed, yet my bank shows the amount as taken.",
    "Please send me a receipt for the annual plan I paid last week.",
]


@dataclass(frozen=True)
class Sizes:
    """How many tickets each phase uses."""

    warmup: int
    burst: dict[float, int]  # by LLM latency in seconds
    paced_seconds: float
    paced_max: int
    paced_min: int = 10


FULL = Sizes(warmup=30, burst={0.0: 500, 0.2: 300}, paced_seconds=10, paced_max=250)
# The CI smoke test (`make bench-quick`, under a minute with every other bench): just enough
# tickets to prove every phase works; its figures are not comparable with a full run's.
QUICK = Sizes(warmup=3, burst={0.0: 30, 0.2: 10}, paced_seconds=1.0, paced_max=6, paced_min=5)


class System(Protocol):
    """One pipeline under test."""

    name: str
    worker: Service | None

    def start(self) -> None:
        """Start its worker process."""
        ...

    def set_llm_latency(self, seconds: float) -> None:
        """What the LLM (stub or sleep) costs per ticket from now on."""
        ...

    def submit(self) -> str:
        """Store and publish one ticket (numbered by the system); returns a token for `timings`."""
        ...

    def finished(self, tokens: list[str]) -> int:
        """How many of these tickets are final."""
        ...

    def timings(self, tokens: list[str]) -> list[tuple[float, float]]:
        """(ingest, final) epoch seconds of each finished ticket."""
        ...


def ticket_body(index: int, nonce: str) -> dict[str, Any]:
    """A valid ticket with text unique to this run (the LLM decision cache must miss)."""
    return {
        "external_id": f"{nonce}-{index}",
        "subject": SUBJECTS[index % len(SUBJECTS)],
        "description": f"Ticket {nonce}-{index}: {BODIES[index % len(BODIES)]}",
        "customer_id": f"cus_{index % 97}",
    }


@dataclass
class StubLatency:
    """The stub LLM's answer time, changed between phases without restarting anything."""

    seconds: float = 0.0


@dataclass
class Ours:
    """`triage worker` with the Gemini classifier on the stub LLM and stub departments."""

    dsn: str
    routing_file: Path
    gemini_url: str
    latency: StubLatency
    log_dir: Path
    name: str = "ours"
    worker: Service | None = None
    nonce: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    numbers: Iterator[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        from pydantic import SecretStr

        from pipeline.services import open_store
        from pipeline.settings import ClassifierChoice, Settings
        from workers.celery_app import create_celery_app

        settings = Settings(
            database_url=sqlalchemy_url(self.dsn),
            broker_url=redis_url(),
            api_key_pepper=SecretStr(API_KEY_PEPPER),
            routing_file=self.routing_file,
            classifier=ClassifierChoice.local,  # this process only stores and publishes
        )
        self.store = open_store(settings)  # migrates the empty database
        self.app = create_celery_app(settings)
        self._db = psycopg.connect(self.dsn, autocommit=True)

    def start(self) -> None:
        metrics_dir = tempfile.mkdtemp(prefix="metrics-", dir=self.log_dir)
        env = product_env(
            self.dsn,
            TRIAGE_CLASSIFIER="gemini",
            TRIAGE_GEMINI_BASE_URL=self.gemini_url,
            GEMINI_API_KEY="bench-not-a-key",
            TRIAGE_ROUTING_FILE=str(self.routing_file),
            PROMETHEUS_MULTIPROC_DIR=metrics_dir,
        )
        argv = [PYTHON, "-m", "triage_cli", "worker", "--queues", "live,backfill"]
        argv += ["--pool", POOL, "--concurrency", str(CONCURRENCY), "--metrics-port", "0"]
        self.worker = start_service("worker-ours", argv, env, self.log_dir)

    def set_llm_latency(self, seconds: float) -> None:
        self.latency.seconds = seconds

    def submit(self) -> str:
        from pipeline.models import TicketSubmission, payload_fingerprint
        from workers.chains import enqueue_after_commit

        body = ticket_body(next(self.numbers), self.nonce)
        acceptance = self.store.accept(
            TicketSubmission.model_validate(body),
            source="bench",
            idempotency_key=body["external_id"],
            payload_hash=payload_fingerprint(body),
        )
        enqueue_after_commit(self.app, acceptance.ticket.id)
        return acceptance.ticket.id

    def finished(self, tokens: list[str]) -> int:
        row = self._db.execute(
            "SELECT count(*) FROM tickets WHERE id = ANY(%s) AND status = ANY(%s)",
            (tokens, list(FINAL)),
        ).fetchone()
        return int(row[0]) if row else 0

    def timings(self, tokens: list[str]) -> list[tuple[float, float]]:
        rows = self._db.execute(
            f"SELECT {EPOCHS} FROM tickets WHERE id = ANY(%s) AND finished_at IS NOT NULL",
            (tokens,),
        ).fetchall()
        return [(float(a), float(b)) for a, b in rows]

    def statuses(self, tokens: list[str]) -> dict[str, int]:
        """Tickets by status: every one should end `done`."""
        rows = self._db.execute(
            "SELECT status, count(*) FROM tickets WHERE id = ANY(%s) GROUP BY status", (tokens,)
        ).fetchall()
        return {str(s): int(n) for s, n in rows}

    def query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Rows of one query on the run's database (psycopg connections are thread-safe)."""
        return self._db.execute(sql, params).fetchall()

    def close(self) -> None:
        """Release this process's connections."""
        self._db.close()
        self.store.engine.dispose()


@dataclass
class Minimal:
    """The minimal chain: one UPDATE per stage, the same stub POST, the LLM latency slept."""

    dsn: str
    department_url: str
    log_dir: Path
    name: str = "minimal"
    worker: Service | None = None
    llm_s: float = 0.0
    numbers: Iterator[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        os.environ["BENCH_BROKER_URL"] = redis_url()  # read by the baseline app on import
        from bench.baselines.minimal_app import DDL

        self._db = psycopg.connect(self.dsn, autocommit=True)
        self._db.execute(DDL)
        self._submit_db = psycopg.connect(self.dsn)

    def start(self) -> None:
        env = {
            "BENCH_DSN": self.dsn,
            "BENCH_BROKER_URL": redis_url(),
            "BENCH_DEPARTMENT_URL": self.department_url,
        }
        argv = _celery_argv("minimal_chain")
        self.worker = start_service("worker-minimal", argv, env, self.log_dir)

    def set_llm_latency(self, seconds: float) -> None:
        self.llm_s = seconds

    def submit(self) -> str:
        from bench.baselines import minimal_chain

        return minimal_chain.submit(self._submit_db, next(self.numbers), self.llm_s)

    def finished(self, tokens: list[str]) -> int:
        row = self._db.execute(
            "SELECT count(*) FROM bench_tickets WHERE id = ANY(%s::uuid[]) AND status = 'done'",
            (tokens,),
        ).fetchone()
        return int(row[0]) if row else 0

    def timings(self, tokens: list[str]) -> list[tuple[float, float]]:
        rows = self._db.execute(
            f"SELECT {EPOCHS} FROM bench_tickets"
            " WHERE id = ANY(%s::uuid[]) AND finished_at IS NOT NULL",
            (tokens,),
        ).fetchall()
        return [(float(a), float(b)) for a, b in rows]

    def close(self) -> None:
        """Release this process's connections."""
        self._db.close()
        self._submit_db.close()


@dataclass
class Bare:
    """Three no-op tasks; the last one appends its times to a Redis list."""

    log_dir: Path
    name: str = "bare"
    worker: Service | None = None
    numbers: Iterator[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        os.environ["BENCH_BROKER_URL"] = redis_url()  # read by the baseline app on import
        self._redis = redis.Redis.from_url(redis_url())

    def start(self) -> None:
        env = {"BENCH_BROKER_URL": redis_url()}
        self.worker = start_service("worker-bare", _celery_argv("bare_chain"), env, self.log_dir)

    def set_llm_latency(self, seconds: float) -> None:
        """No LLM here."""

    def submit(self) -> str:
        from bench.baselines import bare_chain

        token = str(next(self.numbers))
        bare_chain.submit(token)
        return token

    def finished(self, tokens: list[str]) -> int:
        from bench.baselines.bare_chain import DONE_KEY

        length: int = self._redis.llen(DONE_KEY)  # type: ignore[assignment]
        return length

    def timings(self, tokens: list[str]) -> list[tuple[float, float]]:
        from bench.baselines.bare_chain import DONE_KEY

        entries: list[bytes] = self._redis.lrange(DONE_KEY, 0, -1)  # type: ignore[assignment]
        pairs = [entry.split() for entry in entries]
        return [(float(sent), float(done)) for sent, done in pairs]

    def reset(self) -> None:
        """Forget the done markers of the previous phase."""
        from bench.baselines.bare_chain import DONE_KEY

        self._redis.delete(DONE_KEY)

    def close(self) -> None:
        """Release this process's connections."""
        self._redis.close()


def _celery_argv(module: str) -> list[str]:
    """A plain `celery worker` on a baseline app with our pool, concurrency and log level."""
    from bench.baselines import bare_chain, minimal_chain

    queue = {"bare_chain": bare_chain.QUEUE, "minimal_chain": minimal_chain.QUEUE}[module]
    return [
        PYTHON, "-m", "celery", "-A", f"bench.baselines.{module}:app", "worker",
        f"--pool={POOL}", f"--concurrency={CONCURRENCY}", f"--queues={queue}", "--loglevel=INFO",
        f"--hostname={module.split('_')[0]}@%h",  # not celery@host: that one is our worker's
    ]  # fmt: skip


def drain(system: System, tokens: list[str], timeout: float, what: str) -> None:
    """Wait until every ticket is final, checking that the worker lives."""

    def done() -> bool:
        if system.worker is not None and not system.worker.alive():
            raise RuntimeError(f"{system.worker.name} exited:\n{system.worker.tail()}")
        return system.finished(tokens) >= len(tokens)

    try:
        wait_until(done, timeout, what, interval=0.1)
    except TimeoutError as error:
        left = len(tokens) - system.finished(tokens)
        raise TimeoutError(f"{error} ({left} of {len(tokens)} not final)") from None


@contextmanager
def paused(service: Service) -> Iterator[None]:
    """SIGSTOP the worker's process group while the queue fills, SIGCONT afterwards."""
    service.pause()
    try:
        yield
    finally:
        service.resume()


def reset(system: System) -> None:
    """Between phases: forget per-phase markers."""
    if isinstance(system, Bare):
        system.reset()


def warm_up(system: System, count: int) -> None:
    """First tickets after start: loads models, opens pools, proves the worker consumes."""
    reset(system)
    tokens = [system.submit() for _ in range(count)]
    drain(system, tokens, timeout=120, what=f"{system.name}'s warm-up tickets")


def burst(system: System, count: int) -> dict[str, Any]:
    """Queue `count` tickets with the worker paused, resume, time until all are final."""
    assert system.worker is not None
    reset(system)
    with paused(system.worker):
        tokens = [system.submit() for _ in range(count)]
    released = time.time()
    cpu_before = cpu_seconds(system.worker.pids())
    drain(system, tokens, timeout=60 + count * 0.5, what=f"{system.name}'s burst")
    elapsed = time.time() - released
    cpu = cpu_seconds(system.worker.pids()) - cpu_before
    finishes = sorted(done for _, done in system.timings(tokens))
    # Finished times come from the store, so the poll interval adds nothing to the figure.
    span = (finishes[-1] - released) if finishes else elapsed
    return {
        "tickets": count,
        "seconds": round(span, 3),
        "tickets_per_s": round(count / span, 2) if span > 0 else None,
        "worker_cpu_ms_per_ticket": round(cpu * 1000 / count, 2),
        "tokens": tokens,
    }


def paced(system: System, rate: float, count: int) -> dict[str, Any]:
    """Submit `count` tickets at `rate` per second (open loop); latency ingest->final."""
    reset(system)
    tokens: list[str] = []
    started = time.monotonic()
    for i in range(count):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        tokens.append(system.submit())
    drain(system, tokens, timeout=60 + count * 0.5, what=f"{system.name}'s paced run")
    latencies = [(done - ingest) * 1000 for ingest, done in system.timings(tokens)]
    return {
        "rate_per_s": round(rate, 2),
        "tickets": count,
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "max_ms": round(max(latencies), 1) if latencies else None,
        "tokens": tokens,
    }


class Stubs:
    """The stub LLM and stub departments, served from this process."""

    def __init__(self, stack: ExitStack, directory: Path) -> None:
        from tests.support.gemini_stub import (
            RecordedRequest,
            StubResponse,
            classification_json,
            running_stub,
            text_response,
        )
        from triage_cli.demo import demo_routing_file
        from triage_cli.stub_departments import StubDepartments, serve_in_thread

        self.latency = StubLatency()
        answer = text_response(classification_json())

        def respond(_request: RecordedRequest) -> StubResponse:
            # The held answer is how a slow model looks to the SDK: a request left waiting.
            return dataclasses.replace(answer, hold_s=self.latency.seconds)

        gemini = stack.enter_context(running_stub(respond))
        # The stub keeps every request; the bench sends thousands, so keep none.
        gemini.requests = _Discard()
        self.gemini_url = gemini.url
        self.departments = StubDepartments()
        self.departments.received = _Discard()
        self.departments_url = stack.enter_context(serve_in_thread(self.departments))
        self.routing_file = demo_routing_file(directory, self.departments_url)


class _Discard(list):
    """A list that drops what is appended: the stubs' records are not needed here."""

    def append(self, _item: object) -> None:
        return None


def measure_system(
    system: System,
    sizes: Sizes,
    rates: dict[float, float],
    latencies: list[float],
    profile_dir: Path | None = None,
) -> dict[str, Any]:
    """On a started worker: per LLM latency a warm-up, a burst and a paced run."""
    assert system.worker is not None
    results: dict[str, Any] = {}
    for llm_s in latencies:
        key = f"{round(llm_s * 1000)}ms"
        system.set_llm_latency(llm_s)
        if llm_s == latencies[0]:
            warm_up(system, sizes.warmup)  # once: pools and clients stay warm across latencies
        count = sizes.burst[llm_s]
        say(f"pipeline {system.name} @ {key}: burst of {count} tickets")
        result = burst(system, count)
        tokens = result.pop("tokens")
        if isinstance(system, Ours):
            result["statuses"] = system.statuses(tokens)
        # Ours runs first: its burst rate sets the paced rate every system gets.
        rate = rates.setdefault(llm_s, max(2.0, 0.5 * (result["tickets_per_s"] or 4)))
        n = max(sizes.paced_min, min(sizes.paced_max, round(rate * sizes.paced_seconds)))
        say(
            f"pipeline {system.name} @ {key}: {result['tickets_per_s']} tickets/s; "
            f"latency: {n} tickets paced at {rate:.1f}/s"
        )
        latency = paced(system, rate, n)
        latency.pop("tokens")
        results[key] = {"burst": result, "latency": latency}
    results["worker_rss_mb"] = round(sum(rss_mb(p) for p in system.worker.pids()), 1)
    if profile_dir is not None:
        first = f"{round(latencies[0] * 1000)}ms"
        system.set_llm_latency(latencies[0])
        results["profile"] = profile_burst(
            system, sizes.burst[latencies[0]], results[first]["burst"]["tickets_per_s"] or 10,
            profile_dir,
        )  # fmt: skip
    return results


def profile_burst(
    system: System, count: int, rate: float, directory: Path
) -> dict[str, Any] | None:
    """An extra burst with py-spy on the worker for the whole drain (not a measured run)."""
    assert system.worker is not None
    reset(system)
    # py-spy slows the worker, and a burst's audit stages all run last: sample generously
    # (an idle worker holds no GIL, so the extra seconds add no samples).
    seconds = count / rate * 1.6 + 5
    say(f"pipeline {system.name}: profiling a burst of {count} with py-spy (~{seconds:.0f} s)")
    with paused(system.worker):
        tokens = [system.submit() for _ in range(count)]
    path = directory / f"py-spy-worker-{system.name}.txt"
    recording = profiling.start_recording(system.worker.pid, seconds, path)
    drain(system, tokens, timeout=60 + count * 0.5, what=f"{system.name}'s profiled burst")
    if recording is None or not recording.wait(seconds + 60):
        say("pipeline: py-spy unavailable or failed; no profile")
        return None
    summary = profiling.summarise([path])
    summary["raw"] = str(path)
    return summary


def run_pipeline(
    quick: bool,
    log_dir: Path,
    dsn: str,
    profile: bool = False,
    memory_checkpoints: tuple[int, ...] | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Ours, then the minimal chain, then the bare chain; figures and ratios.

    With `memory_checkpoints`, our worker also serves the memory bench: its RSS is read once
    the first checkpoint's tickets are through (on the fresh worker), then after the pipeline
    runs it is fed up to each further checkpoint. One worker, no second ten-minute feed.
    """
    from bench.memory import MemoryProbe

    sizes = QUICK if quick else FULL
    latencies = sorted(sizes.burst)
    rates: dict[float, float] = {}
    results: dict[str, Any] = {}
    memory: dict[str, Any] | None = None
    with ExitStack() as stack:
        stubs = Stubs(stack, log_dir)
        ours = Ours(dsn, stubs.routing_file, stubs.gemini_url, stubs.latency, log_dir)
        stack.callback(ours.close)
        minimal = Minimal(dsn, f"{stubs.departments_url}/departments/finance", log_dir)
        stack.callback(minimal.close)
        bare = Bare(log_dir)
        stack.callback(bare.close)
        # Quick: the three workers start together (the baselines paused until their turn), to
        # keep the smoke test within its minute. Full: each starts when its turn comes.
        early: list[System] = [minimal, bare] if quick else []
        for system in early:
            start(system, stack)
        with_ours = start(ours, stack)
        for system in early:
            assert system.worker is not None
            system.worker.wait_log(" ready.", timeout=120)
            system.worker.pause()
        with with_ours:
            probe = MemoryProbe(ours) if memory_checkpoints else None
            if probe is not None and memory_checkpoints:
                probe.reach(memory_checkpoints[0])
            results["ours"] = measure_system(
                ours, sizes, rates, latencies, profile_dir=log_dir if profile else None
            )
            if probe is not None and memory_checkpoints:
                for checkpoint in memory_checkpoints[1:]:
                    probe.reach(checkpoint)
                memory = probe.result()
        with start(minimal, stack) if minimal not in early else resumed(minimal):
            results["minimal"] = measure_system(minimal, sizes, rates, latencies)
        with start(bare, stack) if bare not in early else resumed(bare):
            # No LLM in the bare chain: one run serves both latencies (the chain is the same).
            results["bare"] = measure_system(bare, sizes, rates, [0.0])
    section = {
        "settings": {
            "pool": POOL,
            "concurrency": CONCURRENCY,
            "llm_latencies_ms": [round(x * 1000) for x in latencies],
            "burst_tickets": {f"{round(k * 1000)}ms": v for k, v in sizes.burst.items()},
            "paced_seconds": sizes.paced_seconds,
            "method": "burst: N queued with the worker paused, then timed to the last final "
            "ticket; latency: a paced run at half our burst rate, ingest->final from the store",
        },
        "results": results,
        "ratios": pipeline_ratios(results, latencies),
        "targets": pipeline_targets(results, latencies),
    }
    return section, memory


def start(system: System, stack: ExitStack) -> contextlib.AbstractContextManager[None]:
    """Start the system's worker now; the returned block is its turn, after which it quits."""
    say(f"pipeline {system.name}: starting its worker ({POOL} x {CONCURRENCY})")
    system.start()
    assert system.worker is not None
    stack.callback(system.worker.quit)  # on any error too
    return resumed(system)


@contextmanager
def resumed(system: System) -> Iterator[None]:
    """The system's turn: its worker runs (resumed if paused) and quits at the end."""
    assert system.worker is not None
    system.worker.resume()
    try:
        yield
    finally:
        # Every ticket is final by now: a cold shutdown loses nothing and takes no time.
        system.worker.quit()


@contextmanager
def started(system: System) -> Iterator[None]:
    """Standalone use: start the worker, run the block, quit the worker."""
    with ExitStack() as stack, start(system, stack):
        yield


def pipeline_ratios(results: dict[str, Any], latencies: list[float]) -> dict[str, Any]:
    """Ours over each baseline: throughput, and p50/p95 latency."""
    out: dict[str, Any] = {}
    bare = results["bare"]["0ms"]
    for llm_s in latencies:
        key = f"{round(llm_s * 1000)}ms"
        ours, minimal = results["ours"][key], results["minimal"][key]
        out[key] = {
            "tickets_per_s_vs_minimal": ratio(
                ours["burst"]["tickets_per_s"], minimal["burst"]["tickets_per_s"]
            ),
            "tickets_per_s_vs_bare": ratio(
                ours["burst"]["tickets_per_s"], bare["burst"]["tickets_per_s"]
            ),
            "p50_vs_minimal": ratio(ours["latency"]["p50_ms"], minimal["latency"]["p50_ms"]),
            "p95_vs_minimal": ratio(ours["latency"]["p95_ms"], minimal["latency"]["p95_ms"]),
            "p50_vs_bare": ratio(ours["latency"]["p50_ms"], bare["latency"]["p50_ms"]),
            "p95_vs_bare": ratio(ours["latency"]["p95_ms"], bare["latency"]["p95_ms"]),
        }
    return out


def pipeline_targets(results: dict[str, Any], latencies: list[float]) -> dict[str, Any]:
    """Target: at least 0.8x the minimal chain's tickets/s at every LLM latency."""
    ratios = pipeline_ratios(results, latencies)
    met = {key: (r["tickets_per_s_vs_minimal"] or 0) >= 0.8 for key, r in ratios.items()}
    return {"tickets_per_s_vs_minimal_min": 0.8, "met": met}
