"""py-spy profiles of our processes under bench load, summarised into components and hot spots.

`py-spy record --gil` samples only the thread holding the GIL: in a process that is CPU-bound
on its GIL (a gthread gunicorn worker, a Celery threads pool) that is exactly where its time
goes. The raw (collapsed) stacks are kept beside the logs; the summary lands in results.json.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Where a sample's time belongs: the first rule whose marker appears in the stack (leaf first)
# wins, so a psycopg call made by SQLAlchemy counts as the driver, and SQLAlchemy's own Python
# as the ORM. Order matters: the most specific libraries first.
COMPONENTS: list[tuple[str, tuple[str, ...]]] = [
    ("logging (stdlib + json formatter)", ("logging/", "pythonjsonlogger")),
    ("prometheus metrics", ("prometheus_client",)),
    ("psycopg (driver, wire)", ("psycopg/", "psycopg_binary")),
    ("sqlalchemy (ORM, core, pool)", ("sqlalchemy/",)),
    ("redis-py (wire)", ("redis/",)),
    ("limits (rate limiter)", ("limits/",)),
    ("google-genai SDK", ("google/genai",)),
    ("httpx / httpcore / httpx2", ("httpx", "httpcore", "h11/")),
    ("pydantic", ("pydantic",)),
    ("kombu (messaging)", ("kombu/",)),
    ("celery (worker, tracing, events)", ("celery/",)),
    ("flask / werkzeug", ("flask/", "werkzeug/")),
    ("gunicorn", ("gunicorn/",)),
    ("json", ("json/",)),
    ("our code", ("pipeline/", "ingest_api/", "workers/", "triage_cli/")),
]


@dataclass
class Recording:
    """A running py-spy, writing collapsed stacks of one process to `path`."""

    pid: int
    path: Path
    process: subprocess.Popen[bytes]

    def wait(self, timeout: float) -> bool:
        """Wait for py-spy to write its file; False when it did not."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return False
        return self.path.is_file() and self.path.stat().st_size > 0


def py_spy() -> str | None:
    """The py-spy executable: on PATH or beside this interpreter (the venv)."""
    beside = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(beside) if beside.is_file() else None)


def start_recording(pid: int, seconds: float, path: Path, rate: int = 100) -> Recording | None:
    """Sample the GIL holder of `pid` for `seconds`; None when py-spy is not installed."""
    exe = py_spy()
    if exe is None:
        return None
    argv = [exe, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))]
    argv += ["--rate", str(rate), "--format", "raw", "--gil", "--output", str(path)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return Recording(pid, path, process)


def read_stacks(paths: Sequence[Path]) -> Counter[tuple[str, ...]]:
    """Collapsed stacks (root first) with their sample counts, from py-spy's raw files."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            frames, _, count = line.rpartition(" ")
            if frames and count.isdigit():
                stacks[tuple(frames.split(";"))] += int(count)
    return stacks


def _function(frame: str) -> str:
    """`name (path/to/file.py:123)` -> `name (path/to/file.py)`: lines vary, functions do not."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def summarise(paths: Sequence[Path], top: int = 12) -> dict[str, Any]:
    """Samples by component, the hottest functions (self and inclusive) and our own frames."""
    stacks = read_stacks(paths)
    total = sum(stacks.values())
    if not total:
        return {"samples": 0}
    components: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    for stack, count in stacks.items():
        components[_component(stack)] += count
        self_time[_function(stack[-1])] += count
        for function in {_function(f) for f in stack}:
            inclusive[function] += count
        for function in {_function(f) for f in stack if _is_ours(f)}:
            ours[function] += count

    def share(counter: Counter[str], n: int) -> list[list[Any]]:
        return [[name, round(100 * c / total, 1)] for name, c in counter.most_common(n)]

    return {
        "samples": total,
        "by_component_pct": dict(share(components, len(components))),
        "self_top_pct": share(self_time, top),
        "inclusive_top_pct": share(
            Counter({k: v for k, v in inclusive.items() if not _is_frame_plumbing(k)}), top * 2
        ),
        "our_functions_inclusive_pct": share(ours, top * 2),
    }


def _component(stack: tuple[str, ...]) -> str:
    for frame in reversed(stack):
        for name, markers in COMPONENTS:
            if any(marker in frame for marker in markers):
                return name
    return "other (stdlib, interpreter)"


def _is_ours(frame: str) -> bool:
    return any(marker in frame for marker in COMPONENTS[-1][1])


def _is_frame_plumbing(function: str) -> bool:
    # Frames every sample passes through (the interpreter's entry, the worker's loop) say
    # nothing about where the time goes.
    return any(
        marker in function
        for marker in ("<frozen runpy>", "click/", "bootsteps.py", "threading.py", "<module>")
    )
