"""Shared plumbing: the run's PostgreSQL database and Redis db, settings, stubs, stats, machine."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import platform
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOST = "127.0.0.1"  # every server and every load loop stays on the loopback
POSTGRES_ADMIN_DSN = os.environ.get(
    "BENCH_POSTGRES_DSN", f"postgresql://postgres@{HOST}:5432/postgres"
)
REDIS_PORT = 6379
# Redis databases 7-15 are taken by the test suite and other engineers' benches on this machine;
# a run claims the first of these that nobody uses (or BENCH_REDIS_DB), and flushes only it.
REDIS_CANDIDATE_DBS = (6, 5, 4, 3, 2, 1)
# Read once by every product process of a run (any value works: keys are minted with it).
API_KEY_PEPPER = "bench-pepper-not-a-secret"
PACKAGES: tuple[str, ...] = ("flask", "granian", "gunicorn", "celery", "kombu", "redis")
PACKAGES += ("sqlalchemy",)
PACKAGES += ("psycopg", "google-genai", "pydantic")

_STARTED = time.monotonic()
_redis_url: str | None = None


def say(message: str) -> None:
    """A progress line with the seconds since the bench started."""
    print(f"[bench {time.monotonic() - _STARTED:6.1f}s] {message}", flush=True)


def free_ports(count: int) -> list[int]:
    """Distinct TCP ports of the loopback that nobody listens on right now."""
    # All sockets stay bound until every port is chosen, so the kernel cannot hand one out twice.
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((HOST, 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(ours: float | None, baseline: float | None) -> float | None:
    """ours / baseline rounded to 3 places, None when either is missing or the baseline is 0."""
    if ours is None or baseline is None or not baseline or math.isnan(ours) or math.isnan(baseline):
        return None
    return round(ours / baseline, 3)


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll `check` until true; raise TimeoutError naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


@contextlib.contextmanager
def postgres_database(tag: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this run (a libpq URL), dropped afterwards."""
    name = f"bench_{tag}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlalchemy_url(dsn: str) -> str:
    """The SQLAlchemy URL of a libpq URL (psycopg 3 driver)."""
    return dsn.replace("postgresql://", "postgresql+psycopg://", 1)


def redis_url() -> str:
    """The run's Redis URL: its own database, claimed on first use."""
    global _redis_url
    if _redis_url is None:
        _redis_url = f"redis://{HOST}:{REDIS_PORT}/{claim_redis_db()}"
    return _redis_url


def claim_redis_db() -> int:
    """BENCH_REDIS_DB, else the first candidate database with no keys and no other client."""
    client = redis.Redis(host=HOST, port=REDIS_PORT)
    try:
        clients: list[dict[str, Any]] = client.client_list()  # type: ignore[assignment]
        keyspace: dict[str, Any] = client.info("keyspace")  # type: ignore[assignment]
    finally:
        client.close()
    busy = {int(c["db"]) for c in clients if c.get("db") is not None}
    busy.discard(0)  # this very connection sits on db 0
    busy |= {int(name.removeprefix("db")) for name in keyspace}
    wanted = os.environ.get("BENCH_REDIS_DB")
    if wanted is not None:
        if int(wanted) in busy:  # the bench flushes its database: never someone else's
            raise RuntimeError(f"Redis db {wanted} (BENCH_REDIS_DB) holds keys or clients")
        return int(wanted)
    for db in REDIS_CANDIDATE_DBS:
        if db not in busy:
            return db
    raise RuntimeError(f"no free Redis database among {REDIS_CANDIDATE_DBS}: set BENCH_REDIS_DB")


@contextlib.contextmanager
def redis_database() -> Iterator[str]:
    """The run's private Redis database, flushed before and after."""
    url = redis_url()
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


class Stubs:
    """The stub LLM (answering after `latency_s`) and stub departments, served from this process."""

    def __init__(self, stack: contextlib.ExitStack, directory: Path) -> None:
        from pipeline.testing.gemini_responses import classification_json, text_response
        from pipeline.testing.gemini_stub import running_stub
        from triage_cli.demo import demo_routing_file
        from triage_cli.stub_departments import StubDepartments, serve_in_thread

        self.latency_s = 0.0  # changed between phases without restarting anything; read by all
        answer = text_response(classification_json())
        # The held answer is how a slow model looks to the SDK: a request left waiting.
        gemini = stack.enter_context(
            running_stub(lambda _request: dataclasses.replace(answer, hold_s=self.latency_s))
        )
        gemini.requests = _Discard()  # the stubs keep every request; the bench sends thousands
        self.gemini_url = gemini.url
        departments = StubDepartments()
        departments.received = _Discard()
        self.departments_url = stack.enter_context(serve_in_thread(departments))
        self.routing_file = demo_routing_file(directory, self.departments_url)


class _Discard(list[Any]):
    """A list that drops what is appended: the stubs' records are not needed here."""

    def append(self, _item: object) -> None:
        return None


def product_env(database_dsn: str, **extra: str) -> dict[str, str]:
    """TRIAGE_* settings for our processes: production defaults except the limits a bench trips."""
    return {
        "TRIAGE_DATABASE_URL": sqlalchemy_url(database_dsn),
        "TRIAGE_BROKER_URL": redis_url(),
        "TRIAGE_API_KEY_PEPPER": API_KEY_PEPPER,
        # The per-key limit and the LLM budget would cap the benchmark, not measure it.
        "TRIAGE_RATE_LIMIT": "1000000/second",
        "TRIAGE_LLM_REQUESTS_PER_MINUTE": "100000000",
        "TRIAGE_LLM_TOKENS_PER_MINUTE": "100000000000",
        "TRIAGE_LOG_FORMAT": "json",
        **extra,
    }


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages: other work on the machine skews every figure."""
    return [round(x, 2) for x in os.getloadavg()]


def machine_info(command: str) -> dict[str, Any]:
    """Where and how the figures were taken: machine, servers, packages, commit, load."""
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        models = [ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln]
        cpu = models[0].split(":", 1)[1].strip() if models else cpu
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "source": _source_revision(),
        "load_average_at_start": load_average(),
        "servers": _server_versions(),
        "packages": {name: _version(name) for name in PACKAGES},
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _server_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"postgresql": None, "redis": None}
    with contextlib.suppress(Exception), psycopg.connect(POSTGRES_ADMIN_DSN) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        versions["postgresql"] = str(row[0]) if row else None
    with contextlib.suppress(Exception):
        info: Any = redis.Redis(host=HOST, port=REDIS_PORT).info("server")
        versions["redis"] = str(info.get("redis_version"))
    return versions


def _source_revision() -> dict[str, Any]:
    """The commit measured, and whether tracked files differed from it (read-only git)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
        return done.stdout.strip()

    try:
        changed = git("status", "--porcelain", "--untracked-files=no").splitlines()
        return {"commit": git("rev-parse", "HEAD") or None, "modified_files": len(changed)}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "modified_files": None}
