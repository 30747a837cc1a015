"""The processes a run starts: each in a session of its own, measured from /proc, always reaped."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT, wait_until

# After a run nothing is in flight: a process still there this long after SIGQUIT is killed.
# `triage api` and `triage worker` take 2-5 s to quit; SIGKILL then loses nothing and saves
# seconds per process (the quick run stops nine of them).
QUIT_GRACE_S = 0.5
_sessions: list[int] = []  # every session a run started: its processes must all be gone at the end


@dataclass(frozen=True)
class Proc:
    """One line of /proc/<pid>/stat, the fields the bench reads."""

    pid: int
    name: str
    state: str
    session: int
    cpu_ticks: int  # utime + stime
    rss_pages: int


def processes() -> list[Proc]:
    """Every process of the machine, from /proc (those gone while reading are skipped)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, tail = (entry / "stat").read_text().rsplit(")", 1)
        except (OSError, ValueError):
            continue
        # The command name may hold spaces or parentheses: the other fields follow the last ')'.
        f = tail.split()  # f[0] is field 3 of proc(5): state; f[3] session; f[11:13] utime, stime
        name = head.split("(", 1)[1]
        found.append(
            Proc(int(entry.name), name, f[0], int(f[3]), int(f[11]) + int(f[12]), int(f[21]))
        )
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds used so far by these processes."""
    wanted = set(pids)
    ticks = sum(p.cpu_ticks for p in processes() if p.pid in wanted)
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_mb(pids: Sequence[int]) -> float:
    """Resident set size of these processes together, in MiB (0 for those gone)."""
    wanted = set(pids)
    pages = sum(p.rss_pages for p in processes() if p.pid in wanted)
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


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
        """The leader and every live process of its session (gunicorn workers, pool children)."""
        members = [p.pid for p in processes() if p.session == self.pid and p.state != "Z"]
        return [self.pid, *(pid for pid in members if pid != self.pid)]

    def alive(self) -> bool:
        """Whether the leader still runs."""
        return self.process.poll() is None

    def tail(self, chars: int = 3000) -> str:
        """The end of its log, for error messages."""
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

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
        quit_all([self])

    def pause(self) -> None:
        """SIGSTOP the group: it uses no CPU until `resume`."""
        os.killpg(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT the group."""
        os.killpg(self.pid, signal.SIGCONT)

    def wait_log(self, marker: str, timeout: float) -> None:
        """Wait until the log shows `marker` (e.g. Celery's "ready."); fail if the process ends."""
        wait_until(
            lambda: self.check() and marker in self.tail(50_000), timeout, f"{self.name} log"
        )

    def check(self) -> bool:
        """True while the leader runs; RuntimeError with the log's end once it has exited."""
        if not self.alive():
            raise RuntimeError(f"{self.name} exited:\n{self.tail()}")
        return True


def quit_all(services: Sequence[Service]) -> None:
    """Quick-shutdown several services at once (each one's wait overlaps the others')."""
    for service in services:
        if service.alive():
            service.send(signal.SIGQUIT)
    deadline = time.monotonic() + QUIT_GRACE_S
    for service in services:
        service.reap(max(0.0, deadline - time.monotonic()))


def start_service(name: str, argv: Sequence[str], env: dict[str, str], log_dir: Path) -> Service:
    """Start `argv` with `env` added to a clean environment; its output goes to a log file."""
    log = log_dir / f"{name}.log"
    # A developer's TRIAGE_* settings must not leak into a measured process.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    with open(log, "ab") as out:
        process = subprocess.Popen(
            list(argv),
            env={**clean, **env},
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _sessions.append(process.pid)
    return Service(name, process, log)


def kill_leftovers(settle_s: float = 3.0) -> list[str]:
    """SIGKILL any process still in a session the run started (orphans included); their names.

    Processes signalled moments ago may still be exiting: they get `settle_s` to go first.
    """

    def members() -> list[Proc]:  # zombies are dead already, awaiting a reaper
        return [p for p in processes() if p.session in _sessions and p.state != "Z"]

    deadline = time.monotonic() + settle_s
    while (left := members()) and time.monotonic() < deadline:
        time.sleep(0.1)
    for proc in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    return [f"{p.pid} {p.name}" for p in left]


def wait_http(url: str, service: Service, timeout: float = 60) -> None:
    """Wait until `url` answers below 500; fail early with the log if the process died."""
    import httpx

    def up() -> bool:
        service.check()
        try:
            return httpx.get(url, timeout=1).status_code < 500
        except httpx.HTTPError:
            return False

    wait_until(up, timeout, f"{service.name} at {url}")
