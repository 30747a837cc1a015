"""Memory bench: our worker's RSS as tickets flow through it, read at checkpoints.

One `triage worker` (threads pool, 8 threads, Gemini classifier on the stub LLM at 0 ms, stub
departments) is fed tickets with a bounded backlog. RSS (the worker process and any pool
children, from /proc) is sampled all along and read at each checkpoint once every ticket fed
so far is final. Checkpoints count every ticket the worker has finished since it started.

Standalone (`python -m bench memory`) the worker is fed to each checkpoint in turn. Under
`all`, the pipeline bench's worker serves: first checkpoint on the fresh worker, then the
pipeline runs, then the rest (see `pipeline.run_pipeline`).
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.common import (
    say,
)
from bench.pipeline import started
from bench.processes import rss_mb
from bench.systems import FINAL, Ours, Stubs

FULL_CHECKPOINTS = (1_000, 10_000)
# The brief asks for 200 and 1000; at our ~20 tickets/s 1000 tickets alone take ~50 s, more
# than the whole one-minute budget of `make bench-quick`, so the smoke test uses less. Under
# `all --quick` the pipeline bench's ~55 tickets come between the two checkpoints.
QUICK_CHECKPOINTS = (10, 80)
BACKLOG = 200  # tickets submitted but not final: enough to keep every thread busy
FLAT_MAX_GROWTH_PCT = 5.0  # "flat": RSS grows less than this from the first checkpoint to the last


def checkpoints_for(quick: bool) -> tuple[int, ...]:
    """The checkpoints of a quick or a full run."""
    return QUICK_CHECKPOINTS if quick else FULL_CHECKPOINTS


class MemoryProbe:
    """Feeds our running worker up to checkpoints and reads its RSS there."""

    def __init__(self, ours: Ours) -> None:
        assert ours.worker is not None
        self.ours = ours
        self.worker = ours.worker
        self.samples: list[tuple[int, float]] = []
        self.at_checkpoint: dict[str, float] = {}
        self.started = time.monotonic()
        self.fed_seconds = 0.0
        self.fed_tickets = 0

    def rss(self) -> float:
        """The worker's RSS in MiB (leader and children)."""
        return round(sum(rss_mb(pid) for pid in self.worker.pids()), 1)

    def finished(self) -> int:
        """Tickets this worker has brought to a final state since it started."""
        rows = self.ours.query(
            "SELECT count(*) FROM tickets WHERE status = ANY(%s)", (list(FINAL),)
        )
        return int(rows[0][0])

    def reach(self, target: int) -> None:
        """Feed tickets (LLM at 0 ms) until `target` are final, then read the RSS."""
        self.ours.set_llm_latency(0.0)
        already = self.finished()
        say(f"memory: feeding the worker from {already} to {target} tickets")
        feeder = Feeder(self.ours, self, limit=max(0, target - already))
        begun = time.monotonic()
        feeder.start()
        try:
            self._wait(target, feeder)
        finally:
            feeder.stop()
        self.fed_seconds += time.monotonic() - begun
        self.fed_tickets += max(0, target - already)
        time.sleep(1.0)  # the last acks and events go out before the reading
        self.at_checkpoint[str(target)] = self.rss()
        say(f"memory: after {target:,} tickets RSS {self.at_checkpoint[str(target)]} MiB")

    def _wait(self, target: int, feeder: Feeder) -> None:
        deadline = time.monotonic() + 60 + target * 0.5
        last_report = time.monotonic()
        while True:
            if not self.worker.alive():
                raise RuntimeError(f"worker exited:\n{self.worker.tail()}")
            if feeder.error is not None:
                raise feeder.error
            done = self.finished()
            if done:  # before the first ticket the worker may still be importing
                self.samples.append((done, self.rss()))
            if done >= target:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"memory: {done} of {target} tickets final at the deadline; "
                    f"{self.worker.name} log:\n{self.worker.tail()}"
                )
            if time.monotonic() - last_report > 20 and self.samples:
                last_report = time.monotonic()
                say(f"memory: {done:,} tickets final, RSS {self.samples[-1][1]} MiB")
            time.sleep(0.5)

    def result(self) -> dict[str, Any]:
        """The section for results.json."""
        points = sorted(self.at_checkpoint.items(), key=lambda kv: int(kv[0]))
        (first_n, first), (last_n, last) = points[0], points[-1]
        growth_pct = round(100 * (last - first) / first, 2) if first else None
        span_k = (int(last_n) - int(first_n)) / 1000
        statuses = self.ours.query("SELECT status, count(*) FROM tickets GROUP BY status", ())
        return {
            "settings": {
                "worker": "triage worker --pool threads --concurrency 8, Gemini stub at 0 ms "
                "while fed",
                "checkpoints": [int(n) for n, _ in points],
                "backlog": BACKLOG,
            },
            "rss_mb": dict(points),
            "growth_pct": growth_pct,
            "growth_mb_per_1k_tickets": round((last - first) / span_k, 2) if span_k else None,
            "fed_tickets_per_s": round(self.fed_tickets / self.fed_seconds, 1)
            if self.fed_seconds
            else None,
            "statuses": {str(status): int(count) for status, count in statuses},
            "curve": _downsample(self.samples, 24),
            "targets": {
                "max_growth_pct": FLAT_MAX_GROWTH_PCT,
                "met": growth_pct is not None and growth_pct <= FLAT_MAX_GROWTH_PCT,
            },
        }


class Feeder(threading.Thread):
    """Submits `limit` tickets, keeping at most BACKLOG of them unfinished."""

    def __init__(self, ours: Ours, probe: MemoryProbe, limit: int) -> None:
        super().__init__(name="memory-feeder", daemon=True)
        self.ours = ours
        self.probe = probe
        self.limit = limit
        self.submitted = 0
        self.error: BaseException | None = None
        self._stop_event = threading.Event()
        self._base = probe.finished()

    def run(self) -> None:
        try:
            while not self._stop_event.is_set() and self.submitted < self.limit:
                backlog = self.submitted - (self.probe.finished() - self._base)
                room = min(BACKLOG - backlog, self.limit - self.submitted)
                if room <= 0:
                    self._stop_event.wait(0.2)
                    continue
                for _ in range(room):
                    self.ours.submit()
                    self.submitted += 1
        except BaseException as error:  # reported by the waiting loop
            self.error = error

    def stop(self) -> None:
        """Stop feeding and wait for the thread."""
        self._stop_event.set()
        self.join(timeout=30)


def run_memory(quick: bool, log_dir: Path, dsn: str) -> dict[str, Any]:
    """Standalone: a fresh worker fed to each checkpoint in turn."""
    with ExitStack() as stack:
        stubs = Stubs(stack, log_dir)
        ours = Ours(dsn, stubs.routing_file, stubs.gemini_url, stubs.latency, log_dir)
        stack.callback(ours.close)
        with started(ours):
            probe = MemoryProbe(ours)
            for checkpoint in checkpoints_for(quick):
                probe.reach(checkpoint)
            return probe.result()


def _downsample(samples: list[tuple[int, float]], points: int) -> list[list[float]]:
    """At most `points` (tickets final, RSS MiB) pairs, evenly spread over the run."""
    if len(samples) <= points:
        return [[n, r] for n, r in samples]
    step = (len(samples) - 1) / (points - 1)
    return [list(samples[round(i * step)]) for i in range(points)]
