"""Shared plumbing: processes, the run's PostgreSQL database and Redis db, stats, machine facts."""

from __future__ import annotations

import contextlib
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
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

_STARTED = time.monotonic()
# After a run nothing is in flight: a process still there this long after SIGQUIT is killed.
# `triage api` and `triage worker` take 2-5 s to quit; SIGKILL then loses nothing and saves
# seconds per process (the quick run stops nine of them).
QUIT_GRACE_S = 0.5


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


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (gunicorn workers, prefork children), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces or parentheses: the ppid follows the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def rss_mb(pid: int) -> float:
    """Resident set size of one process in MiB, from /proc (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds used so far by these processes, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / ticks


@dataclass
class Service:
    """A process we started (in its own session, so its whole group can be signalled)."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        """The leader's pid."""
        return self.process.pid

    def pids(self) -> list[int]:
        """The leader and every process below it."""
        return [self.pid, *descendants(self.pid)]

    def alive(self) -> bool:
        """Whether the leader still runs."""
        return self.process.poll() is None

    def tail(self, chars: int = 3000) -> str:
        """The end of its log, for error messages."""
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, grace_s: float = 20) -> None:
        """Signal the group (SIGTERM: graceful), then SIGKILL what is left after the grace."""
        if self.process.poll() is None:
            self.send(sig)
        self.reap(grace_s)

    def send(self, sig: int) -> None:
        """Send `sig` to the group, and SIGCONT: a paused process handles no signal."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)
            os.killpg(self.pid, signal.SIGCONT)

    def reap(self, grace_s: float) -> None:
        """Wait for the leader up to `grace_s`, then SIGKILL the whole group."""
        if self.process.poll() is None:
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # A gunicorn or Celery child may outlive its leader by a moment: never leave one behind.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def quit(self) -> None:
        """Quick shutdown (SIGQUIT: gunicorn's and Celery's) once nothing is in flight."""
        self.stop(signal.SIGQUIT, grace_s=QUIT_GRACE_S)

    def pause(self) -> None:
        """SIGSTOP the group: it uses no CPU until `resume`."""
        os.killpg(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT the group."""
        os.killpg(self.pid, signal.SIGCONT)

    def wait_log(self, marker: str, timeout: float) -> None:
        """Wait until the log shows `marker` (e.g. Celery's "ready."); fail if the process ends."""

        def seen() -> bool:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited:\n{self.tail()}")
            return marker in self.tail(50_000)

        wait_until(seen, timeout, f"{self.name} to log {marker!r}", interval=0.1)


def quit_all(services: Sequence[Service]) -> None:
    """Quick-shutdown several services at once (each one's wait overlaps the others')."""
    for service in services:
        if service.alive():
            service.send(signal.SIGQUIT)
    deadline = time.monotonic() + QUIT_GRACE_S
    for service in services:
        service.reap(max(0.0, deadline - time.monotonic()))


_sessions: list[int] = []  # every session a run started: its processes must all be gone at the end


def start_service(name: str, argv: Sequence[str], env: dict[str, str], log_dir: Path) -> Service:
    """Start `argv` with `env` added to a clean environment; its output goes to a log file."""
    log = log_dir / f"{name}.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            list(argv),
            env={**clean_environ(), **env},
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _sessions.append(process.pid)
    return Service(name, process, log)


def kill_leftovers() -> list[str]:
    """SIGKILL any process still in a session the run started (orphans included); their names."""
    left = []
    for entry in Path("/proc").iterdir():
        try:
            head, tail = (entry / "stat").read_text().rsplit(")", 1)
        except (OSError, ValueError):
            continue
        if entry.name.isdigit() and int(tail.split()[3]) in _sessions:  # field 6: session id
            left.append(f"{entry.name} {head.split('(', 1)[1]}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)
    return left


def clean_environ() -> dict[str, str]:
    """This environment without TRIAGE_* settings: a developer's shell must not leak in."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}


def wait_http(url: str, service: Service, timeout: float = 60) -> None:
    """Wait until `url` answers below 500; fail early with the log if the process died."""
    import httpx

    def up() -> bool:
        if not service.alive():
            raise RuntimeError(f"{service.name} exited:\n{service.tail()}")
        try:
            return httpx.get(url, timeout=1).status_code < 500
        except httpx.HTTPError:
            return False

    wait_until(up, timeout, f"{service.name} at {url}", interval=0.1)


@contextmanager
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


_redis_url: str | None = None


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
        if int(wanted) in busy:
            # The bench flushes its database: never someone else's.
            raise RuntimeError(f"Redis db {wanted} (BENCH_REDIS_DB) holds keys or clients")
        return int(wanted)
    for db in REDIS_CANDIDATE_DBS:
        if db not in busy:
            return db
    raise RuntimeError(f"no free Redis database among {REDIS_CANDIDATE_DBS}: set BENCH_REDIS_DB")


@contextmanager
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


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _server_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"postgresql": None, "redis": None}
    with contextlib.suppress(Exception), psycopg.connect(POSTGRES_ADMIN_DSN) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        versions["postgresql"] = str(row[0]) if row else None
    with contextlib.suppress(Exception):
        info: Any = redis.Redis(host=HOST, port=REDIS_PORT).info("server")
        versions["redis"] = str(info.get("redis_version"))
    return versions


def source_revision() -> dict[str, Any]:
    """The commit measured, and whether tracked files differed from it (read-only git)."""

    def git(*args: str) -> str:
        completed = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
        )
        return completed.stdout.strip()

    try:
        changed = git("status", "--porcelain", "--untracked-files=no").splitlines()
        return {"commit": git("rev-parse", "HEAD") or None, "modified_files": len(changed)}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "modified_files": None}


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages: other work on the machine skews every figure."""
    return [round(x, 2) for x in os.getloadavg()]


def machine_info(command: str) -> dict[str, Any]:
    """Where and how the figures were taken."""
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "source": source_revision(),
        "load_average_at_start": load_average(),
        "servers": _server_versions(),
        "packages": {
            name: _version(name)
            for name in (
                "flask",
                "gunicorn",
                "celery",
                "kombu",
                "redis",
                "sqlalchemy",
                "psycopg",
                "google-genai",
                "pydantic",
            )
        },
    }
