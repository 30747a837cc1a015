"""The processes a run starts: each in a session of its own, stopped and reaped by the run."""

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


def _session_members() -> dict[int, str]:
    """Live processes (zombies excluded: they are dead, awaiting a reaper) in our sessions."""
    members = {}
    for entry in Path("/proc").iterdir():
        try:
            head, tail = (entry / "stat").read_text().rsplit(")", 1)
        except (OSError, ValueError):
            continue
        fields = tail.split()  # fields[0]: state, fields[3]: session id
        if entry.name.isdigit() and fields[0] != "Z" and int(fields[3]) in _sessions:
            members[int(entry.name)] = head.split("(", 1)[1]
    return members


def kill_leftovers(settle_s: float = 3.0) -> list[str]:
    """SIGKILL any process still in a session the run started (orphans included); their names.

    Processes signalled moments ago may still be exiting: they get `settle_s` to go first.
    """
    deadline = time.monotonic() + settle_s
    while (members := _session_members()) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in members:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return [f"{pid} {name}" for pid, name in members.items()]


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
