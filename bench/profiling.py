"""`--profile`: py-spy recordings of our processes under load, summarised by component.

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
from pathlib import Path
from typing import Any

from bench.common import say

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
# Frames every sample passes through (the interpreter's entry, the worker's loop) say nothing.
PLUMBING = ("<frozen runpy>", "click/", "bootsteps.py", "threading.py", "<module>")


def record(pids: Sequence[int], seconds: float, directory: Path, tag: str) -> list[Any]:
    """Start sampling the GIL holder of each pid for `seconds`; [] when py-spy is absent."""
    beside = Path(sys.executable).parent / "py-spy"  # the venv's, when not on PATH
    exe = shutil.which("py-spy") or (str(beside) if beside.is_file() else None)
    if exe is None:
        return []
    recordings = []
    for pid in pids:
        path = directory / f"py-spy-{tag}-{pid}.txt"
        argv = [exe, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))]
        argv += ["--rate", "100", "--format", "raw", "--gil", "--output", str(path)]
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        recordings.append((process, path))
    return recordings


def collect(recordings: list[Any], timeout: float, what: str) -> dict[str, Any] | None:
    """Wait for the recordings; their summary, or None (said) when py-spy wrote nothing."""
    paths = []
    for process, path in recordings:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            continue
        if path.is_file() and path.stat().st_size > 0:
            paths.append(path)
    if not paths:
        say(f"{what}: py-spy unavailable or failed; no profile")
        return None
    return {**summarise(paths), "raw": [str(p) for p in paths]}


def summarise(paths: Sequence[Path], top: int = 12) -> dict[str, Any]:
    """Samples by component, the hottest functions (self and inclusive) and our own frames."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            frames, _, count = line.rpartition(" ")
            if frames and count.isdigit():
                stacks[tuple(frames.split(";"))] += int(count)
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
        functions = {_function(f): f for f in stack}
        for function, frame in functions.items():
            if not any(marker in function for marker in PLUMBING):
                inclusive[function] += count
            if any(marker in frame for marker in COMPONENTS[-1][1]):
                ours[function] += count

    def share(counter: Counter[str], n: int) -> list[list[Any]]:
        return [[name, round(100 * c / total, 1)] for name, c in counter.most_common(n)]

    return {
        "samples": total,
        "by_component_pct": dict(share(components, len(components))),
        "self_top_pct": share(self_time, top),
        "inclusive_top_pct": share(inclusive, top * 2),
        "our_functions_inclusive_pct": share(ours, top * 2),
    }


def _function(frame: str) -> str:
    """`name (path/to/file.py:123)` -> `name (path/to/file.py)`: lines vary, functions do not."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def _component(stack: tuple[str, ...]) -> str:
    for frame in reversed(stack):
        for name, markers in COMPONENTS:
            if any(marker in frame for marker in markers):
                return name
    return "other (stdlib, interpreter)"
