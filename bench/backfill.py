"""Live-ticket latency while a backfill runs, against the same live load on an idle pipeline.

Target (backfill issue): live p95 during a backfill <= 1.3 x idle p95 + 50 ms. Two workers as
in production: one on `live`, one on `backfill` alone; the local classifier (CPU-bound: the
hardest case for sharing a 2-core machine); departments are the stub receivers on the loopback.
Live tickets are stored and published in this process as the API does (`bench.systems.ours`)
and timed ingest->final from the store; the backfill is `triage backfill FILE`, run as a user
would. The backfill worker and loader run at a lower priority (`nice`), as compose gives
worker-backfill a smaller CPU share.
"""

from __future__ import annotations

import csv
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import PYTHON, Stubs, ratio, say, wait_until
from bench.processes import Service, quit_all, start_service
from bench.systems import FINAL, System, our_env, ours

NICE = ["nice", "-n", "15"]
COLUMNS = "external_id=ticket_no,subject=title,description=body,customer_id=client,"
COLUMNS += "created_at=opened_at"
P95_FACTOR, P95_SLACK_MS = 1.3, 50.0  # the target: live p95 <= 1.3 x idle p95 + 50 ms
SUBJECTS = ["Charged twice", "Parcel late", "App crashes", "Cannot log in", "Refund please"]


@dataclass(frozen=True)
class Sizes:
    """Live tickets per phase (paced at `rate`/s) and the rows of the backfill file."""

    rate: float
    warmup: int
    live: int
    backfill_rows: int


FULL = Sizes(rate=10.0, warmup=20, live=300, backfill_rows=5_000)
QUICK = Sizes(rate=10.0, warmup=3, live=10, backfill_rows=60)


def live_rig(dsn: str, stubs: Stubs, log_dir: Path) -> System:
    """Ours with the production split: a live worker (timed) and a niced backfill worker."""
    argv = [PYTHON, "-m", "triage_cli", "worker", "--pool", "threads", "--metrics-port", "0"]
    commands = [
        ("worker-live", [*argv, "--queues", "live", "--concurrency", "8"]),
        ("worker-backfill", [*NICE, *argv, "--queues", "backfill", "--concurrency", "2"]),
    ]
    system = ours(dsn, stubs, log_dir, [(n, a, env(dsn, stubs, log_dir, n)) for n, a in commands])
    system.name = "live"
    return system


def env(dsn: str, stubs: Stubs, log_dir: Path, name: str) -> dict[str, str]:
    """One of our processes with the local classifier."""
    # As compose runs worker-backfill (`triage backfill` always commits this way).
    extra = {"TRIAGE_ASYNC_COMMIT": "true"} if name == "worker-backfill" else {}
    return our_env(dsn, stubs, log_dir, name, TRIAGE_CLASSIFIER="local", **extra)


def backfill_counts(rig: System, loader: Service) -> tuple[int, int]:
    """(final, stored) backfill tickets so far; fails at once when a process failed."""
    code = loader.process.poll()
    if code:  # 1: rows rejected, 2: usage; every row of our file is valid
        raise RuntimeError(f"triage backfill exited {code}:\n{loader.tail()}")
    for worker in rig.services:
        worker.check()
    sql = "SELECT count(*) FILTER (WHERE status = ANY(%s)), count(*) FROM tickets"
    rows = rig.query(sql + " WHERE queue = 'backfill'", (list(FINAL),))
    return int(rows[0][0]), int(rows[0][1])


def write_backfill_file(path: Path, rows: int) -> None:
    """A helpdesk export with its own column names (mapped with --map, as a user would)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ticket_no", "title", "body", "client", "opened_at"])
        for i in range(rows):
            subject = SUBJECTS[i % len(SUBJECTS)]
            writer.writerow(
                [
                    f"H-{i}",
                    subject,
                    f"{subject}: historical ticket number {i}.",
                    f"cus_{i % 300}",
                    "2024-03-01T09:00:00Z",
                ]
            )


def run_backfill(quick: bool, log_dir: Path, dsn: str) -> dict[str, Any]:
    """Idle live latency, then live latency while a backfill loads and classifies."""
    sizes = QUICK if quick else FULL
    rows = sizes.backfill_rows
    with ExitStack() as stack:
        stubs = Stubs(stack, log_dir)
        rig = live_rig(dsn, stubs, log_dir)
        stack.callback(rig.close)
        say("backfill: starting the live and the backfill worker")
        stack.enter_context(rig.start(stack))
        rig.warm_up(sizes.warmup)
        say(f"backfill: idle live latency ({sizes.live} tickets at {sizes.rate:.0f}/s)")
        idle = rig.paced(sizes.rate, sizes.live)
        path = log_dir / "backfill-history.csv"
        write_backfill_file(path, rows)
        # `triage backfill FILE`: stores every row and enqueues it on the backfill queue.
        argv = [*NICE, PYTHON, "-m", "triage_cli", "backfill", str(path), "--map", COLUMNS]
        loader = start_service(
            "backfill-cli", argv, env(dsn, stubs, log_dir, "backfill-cli"), log_dir
        )
        stack.callback(quit_all, [loader])
        loaded_at = time.monotonic()

        def stored_tenth() -> bool:
            return backfill_counts(rig, loader)[1] >= max(1, rows // 10)

        def finished() -> bool:
            return backfill_counts(rig, loader)[0] >= rows and loader.process.poll() == 0

        wait_until(stored_tenth, 120, "the backfill to be under way")
        say(f"backfill: live latency during a {rows:,}-row backfill")
        during = rig.paced(sizes.rate, sizes.live)
        final_when_live_ended = backfill_counts(rig, loader)[0]
        wait_until(finished, 60 + rows / 20, "the backfill to finish", interval=0.2)
        backfill_s = time.monotonic() - loaded_at
        path.unlink()
    return backfill_section(sizes, idle, during, final_when_live_ended, backfill_s)


def backfill_section(
    sizes: Sizes,
    idle: dict[str, Any],
    during: dict[str, Any],
    final_when_live_ended: int,
    backfill_s: float,
) -> dict[str, Any]:
    """The section for results.json: both live runs, the backfill's pace, the target."""
    rows = sizes.backfill_rows
    target = round(P95_FACTOR * idle["p95_ms"] + P95_SLACK_MS, 1)
    return {
        "settings": {
            "workers": "triage worker --pool threads: live x 8, backfill x 2 under nice 15; "
            "local classifier; stub departments",
            "live": f"{sizes.live} tickets paced at {sizes.rate:g}/s per phase, "
            "ingest->final from the store",
            "backfill": f"triage backfill of {rows:,} CSV rows (nice 15)",
        },
        "idle": idle,
        "during_backfill": during,
        "backfill": {
            "rows": rows,
            "final_when_live_run_ended": final_when_live_ended,
            "seconds": round(backfill_s, 1),
            "tickets_per_s": round(rows / backfill_s, 1) if backfill_s > 0 else None,
        },
        "ratios": {"p95_during_vs_idle": ratio(during["p95_ms"], idle["p95_ms"])},
        "targets": {
            "rule": f"live p95 <= {P95_FACTOR} x idle p95 + {P95_SLACK_MS:g} ms",
            "p95_max_ms": target,
            "met": during["p95_ms"] <= target,
        },
    }
