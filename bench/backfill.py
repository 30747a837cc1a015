"""A backfill's throughput, and live-ticket latency while it runs against the same live load idle.

Targets (issue 21): the backfill file stored, classified by the local model and audited at
>= 1,000 tickets/s end to end (`triage backfill FILE --wait`, one `triage worker --queues
backfill`), worker memory flat; live p95 during it <= 1.3 x idle p95 + 50 ms. Two workers as
in production: one on `live`, one on `backfill` alone; the local classifier (CPU-bound: the
hardest case for sharing a 2-core machine); departments are the stub receivers on the loopback.
Live tickets are stored and published in this process as the API does (`bench.systems.ours`)
and timed ingest->final from the store; the backfill is `triage backfill FILE --wait`, run as a
user would. The backfill worker and loader run at a lower priority (`nice`), as compose gives
worker-backfill a smaller CPU share.
"""

from __future__ import annotations

import dataclasses
import os
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.backfill_history import TARGET_TICKETS_PER_S, HistoryRun
from bench.common import PYTHON, Stubs, ratio, say, wait_until
from bench.processes import quit_all
from bench.systems import System, our_env, ours
from bench.targets import Target, register_target

NICE = ["nice", "-n", "15"]
P95_FACTOR, P95_SLACK_MS = 1.3, 50.0  # the target: live p95 <= 1.3 x idle p95 + 50 ms


@dataclass(frozen=True)
class Sizes:
    """Live tickets per phase (paced at `rate`/s) and the rows of the backfill file."""

    rate: float
    warmup: int
    live: int
    backfill_rows: int


FULL = Sizes(rate=10.0, warmup=20, live=300, backfill_rows=100_000)
QUICK = Sizes(rate=10.0, warmup=3, live=10, backfill_rows=60)


def live_rig(dsn: str, stubs: Stubs, log_dir: Path) -> System:
    """Ours with the production split: a live worker (timed) and a niced backfill worker."""
    argv = [PYTHON, "-m", "triage_cli", "worker", "--metrics-port", "0"]
    commands = [
        ("worker-live", [*argv, "--queues", "live", "--pool", "threads", "--concurrency", "8"]),
        # Its own defaults, as a user runs it: prefork, a process per core.
        ("worker-backfill", [*NICE, *argv, "--queues", "backfill"]),
    ]
    system = ours(dsn, stubs, log_dir, [(n, a, env(dsn, stubs, log_dir, n)) for n, a in commands])
    system.name = "live"
    return system


def env(dsn: str, stubs: Stubs, log_dir: Path, name: str) -> dict[str, str]:
    """One of our processes with the local classifier."""
    # As compose runs worker-backfill (`triage backfill` always commits this way).
    extra = {"TRIAGE_ASYNC_COMMIT": "true"} if name == "worker-backfill" else {}
    if "backfill" in name and os.environ.get("BENCH_BACKFILL_YIELD_S"):  # an A/B of the yield
        extra["TRIAGE_BACKFILL_YIELD_S"] = os.environ["BENCH_BACKFILL_YIELD_S"]
    return our_env(dsn, stubs, log_dir, name, TRIAGE_CLASSIFIER="local", **extra)


def run_backfill(quick: bool, log_dir: Path, dsn: str) -> dict[str, Any]:
    """Idle live latency, then live latency while a backfill loads, classifies and audits."""
    sizes = QUICK if quick else FULL
    if os.environ.get("BENCH_BACKFILL_ROWS"):  # a shorter history while developing
        sizes = dataclasses.replace(sizes, backfill_rows=int(os.environ["BENCH_BACKFILL_ROWS"]))
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
        # `triage backfill FILE --wait`: stores every row, enqueues it, follows it to the end.
        history = HistoryRun(
            dsn,
            env(dsn, stubs, log_dir, "backfill-cli"),
            log_dir,
            rows,
            worker=rig.services[1],
            timeout_s=120 + rows / 50,
            prefix=NICE,
        ).start()
        stack.callback(quit_all, [history.loader])
        wait_until(lambda: history.stored() >= max(1, rows // 20), 120, "the backfill under way")
        say(f"backfill: live latency during a {rows:,}-row backfill")
        during = rig.paced(sizes.rate, sizes.live)
        final_when_live_ended = history.timeline[-1][2] if history.timeline else 0
        say("backfill: waiting for the backfill to end")
        job = history.finish()
    return backfill_section(sizes, idle, during, final_when_live_ended, job)


def backfill_section(
    sizes: Sizes,
    idle: dict[str, Any],
    during: dict[str, Any],
    final_when_live_ended: int,
    job: dict[str, Any],
) -> dict[str, Any]:
    """The section for results.json: both live runs, the backfill's figures, the targets."""
    rows = sizes.backfill_rows
    target = round(P95_FACTOR * idle["p95_ms"] + P95_SLACK_MS, 1)
    return {
        "settings": {
            "workers": "triage worker --queues live --pool threads --concurrency 8; triage "
            "worker --queues backfill (its defaults: prefork, a process per core) under nice 15; "
            "local classifier; stub departments",
            "live": f"{sizes.live} tickets paced at {sizes.rate:g}/s per phase, "
            "ingest->final from the store",
            "backfill": f"triage backfill FILE --wait of {rows:,} CSV rows (nice 15), no --deliver",
        },
        "idle": idle,
        "during_backfill": during,
        "backfill": {
            **job,
            "final_when_live_run_ended": final_when_live_ended,
            "seconds": job["seconds_to_final"],
            "tickets_per_s": job["tickets_per_s_final"],
        },
        "ratios": {"p95_during_vs_idle": ratio(during["p95_ms"], idle["p95_ms"])},
        "targets": {
            "rule": f"live p95 <= {P95_FACTOR} x idle p95 + {P95_SLACK_MS:g} ms",
            "p95_max_ms": target,
            "met": during["p95_ms"] <= target,
            "throughput_rule": f"{rows:,} rows final at >= {TARGET_TICKETS_PER_S:,.0f} tickets/s",
            "throughput_met": job["met"],
        },
    }


def _section(results: dict[str, Any]) -> dict[str, Any] | None:
    section = results.get("backfill")
    return section if isinstance(section, dict) and "error" not in section else None


@register_target("backfill")
def backfill_target(results: dict[str, Any]) -> Target | None:
    """The backfill file final at >= 1,000 tickets/s end to end."""
    s = _section(results)
    if s is None:
        return None
    job = s["backfill"]
    rss = job.get("worker_rss_mb") or {}
    detail = (
        f"{job.get('rows', 0):,} rows: {job.get('rows_per_s_stored')} rows/s stored, "
        f"{job.get('tickets_per_s_final')} tickets/s final, "
        f"{job.get('llm_requests_per_ticket')} LLM requests/ticket, worker RSS "
        f"{rss.get('tenth_final')} -> {rss.get('end')} MiB "
        f"({s['targets'].get('throughput_rule', '>= 1,000 tickets/s')})"
    )
    return Target("backfill", s["targets"].get("throughput_met"), detail)


@register_target("live beside history")
def live_beside_history_target(results: dict[str, Any]) -> Target | None:
    """Live p95 during the backfill <= 1.3 x idle p95 + 50 ms."""
    s = _section(results)
    if s is None:
        return None
    idle, during = s["idle"]["p95_ms"], s["during_backfill"]["p95_ms"]
    detail = f"p95 {during} ms during vs {idle} ms idle ({s['targets']['rule']})"
    return Target("live beside history", s["targets"]["met"], detail)
