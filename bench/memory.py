"""Memory bench: our worker's RSS as tickets flow through it, read at checkpoints.

One `triage worker` (threads pool, 8 threads, Gemini classifier on the stub LLM at 0 ms, stub
departments) is fed tickets with a bounded backlog. RSS (the worker process and any pool
children, from /proc) is sampled all along and read at each checkpoint once every ticket fed
so far is final. Checkpoints count every ticket the worker has finished since it started.

Standalone (`python -m bench memory`) a fresh worker is fed to each checkpoint in turn. Under
`all`, the pipeline bench's worker serves: first checkpoint on the fresh worker, then the
pipeline runs, then the rest (see `bench.pipeline.run_pipeline`).
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.common import say
from bench.phases import started
from bench.processes import rss_mb
from bench.systems import FINAL, Ours, Stubs

FULL_CHECKPOINTS = (1_000, 10_000)
# At our ~20 tickets/s 1000 tickets alone take ~50 s, more than the whole one-minute budget of
# `make bench-quick`; under `all --quick` the pipeline's ~55 tickets come between the two.
QUICK_CHECKPOINTS = (10, 80)
BACKLOG = 200  # tickets submitted but not final: enough to keep every thread busy
FLAT_MAX_GROWTH_PCT = 5.0  # "flat": RSS grows less than this from the first checkpoint to the last


class MemoryProbe:
    """Feeds our running worker up to checkpoints and reads its RSS there."""

    def __init__(self, ours: Ours) -> None:
        assert ours.worker is not None
        self.ours, self.worker = ours, ours.worker
        self.samples: list[tuple[int, float]] = []
        self.at_checkpoint: dict[str, float] = {}
        self.fed_seconds, self.fed_tickets = 0.0, 0

    def rss(self) -> float:
        """The worker's RSS in MiB (leader and children)."""
        return rss_mb(self.worker.pids())

    def finished(self) -> int:
        """Tickets this worker has brought to a final state since it started."""
        sql = "SELECT count(*) FROM tickets WHERE status = ANY(%s)"
        return int(self.ours.query(sql, (list(FINAL),))[0][0])

    def reach(self, target: int) -> None:
        """Feed tickets (LLM at 0 ms, at most BACKLOG unfinished) until `target` are final."""
        self.ours.set_llm_latency(0.0)
        already = submitted = done = self.finished()
        say(f"memory: feeding the worker from {already} to {target} tickets")
        begun = last_report = time.monotonic()
        deadline = begun + 60 + target * 0.5
        while done < target:
            self.worker.check()
            room = min(BACKLOG - (submitted - done), target - submitted)
            for _ in range(max(0, room)):
                self.ours.submit()
                submitted += 1
            time.sleep(0.2)
            done = self.finished()
            if done:  # before the first ticket the worker may still be importing
                self.samples.append((done, self.rss()))
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"memory: {done} of {target} tickets final at the deadline; "
                    f"{self.worker.name} log:\n{self.worker.tail()}"
                )
            if time.monotonic() - last_report > 20 and self.samples:
                last_report = time.monotonic()
                say(f"memory: {done:,} tickets final, RSS {self.samples[-1][1]} MiB")
        self.fed_seconds += time.monotonic() - begun
        self.fed_tickets += max(0, target - already)
        time.sleep(1.0)  # the last acks and events go out before the reading
        self.at_checkpoint[str(target)] = self.rss()
        say(f"memory: after {target:,} tickets RSS {self.at_checkpoint[str(target)]} MiB")

    def result(self) -> dict[str, Any]:
        """The section for results.json."""
        points = sorted(self.at_checkpoint.items(), key=lambda kv: int(kv[0]))
        (first_n, first), (last_n, last) = points[0], points[-1]
        growth_pct = round(100 * (last - first) / first, 2) if first else None
        span_k = (int(last_n) - int(first_n)) / 1000
        step = max(1.0, (len(self.samples) - 1) / 23)  # the curve: at most 24 points, evenly
        curve = [list(self.samples[round(i * step)]) for i in range(min(24, len(self.samples)))]
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
            "statuses": self.ours.statuses(),
            "curve": curve,
            "targets": {
                "max_growth_pct": FLAT_MAX_GROWTH_PCT,
                "met": growth_pct is not None and growth_pct <= FLAT_MAX_GROWTH_PCT,
            },
        }


def run_memory(quick: bool, log_dir: Path, dsn: str) -> dict[str, Any]:
    """Standalone: a fresh worker fed to each checkpoint in turn."""
    with ExitStack() as stack:
        ours = Ours(dsn, Stubs(stack, log_dir), log_dir)
        stack.callback(ours.close)
        with started(ours):
            probe = MemoryProbe(ours)
            for checkpoint in QUICK_CHECKPOINTS if quick else FULL_CHECKPOINTS:
                probe.reach(checkpoint)
            return probe.result()
