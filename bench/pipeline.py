"""Pipeline bench: tickets end to end through real workers, ours against two baseline chains.

Three systems (`bench.systems`) on the same Redis, PostgreSQL, pool (threads) and concurrency
(8): ours with the stub LLM answering in 0 or 200 ms, the minimal chain sleeping as long, and
the bare chain. Per LLM latency each gets a burst (throughput) and a paced run (latency) at the
same rate for all three: half our burst rate (`bench.phases`).
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import profiling
from bench.common import ratio, say
from bench.memory import FULL_CHECKPOINTS, QUICK_CHECKPOINTS, MemoryProbe
from bench.phases import burst, drain, paced, queue_paused, start, warm_up
from bench.processes import rss_mb
from bench.systems import CONCURRENCY, POOL, Bare, Minimal, Ours, Stubs, System


@dataclass(frozen=True)
class Sizes:
    """How many tickets each phase uses."""

    warmup: int
    burst: dict[float, int]  # by LLM latency in seconds
    paced_seconds: float
    paced_max: int
    paced_min: int = 10


FULL = Sizes(warmup=30, burst={0.0: 500, 0.2: 300}, paced_seconds=10, paced_max=250)
# The CI smoke test (`make bench-quick`, under a minute with every other bench): just enough
# tickets to prove every phase works; its figures are not comparable with a full run's.
QUICK = Sizes(warmup=3, burst={0.0: 30, 0.2: 10}, paced_seconds=1.0, paced_max=6, paced_min=5)


def measure_system(
    system: System, sizes: Sizes, rates: dict[float, float], latencies: list[float]
) -> dict[str, Any]:
    """On a started worker: a warm-up, then per LLM latency a burst and a paced run."""
    assert system.worker is not None
    results: dict[str, Any] = {}
    for llm_s in latencies:
        key = f"{round(llm_s * 1000)}ms"
        system.set_llm_latency(llm_s)
        if llm_s == latencies[0]:
            warm_up(system, sizes.warmup)  # once: pools and clients stay warm across latencies
        count = sizes.burst[llm_s]
        say(f"pipeline {system.name} @ {key}: burst of {count} tickets")
        result = burst(system, count)
        tokens = result.pop("tokens")
        if isinstance(system, Ours):
            result["statuses"] = system.statuses(tokens)
        # Ours runs first: its burst rate sets the paced rate every system gets.
        rate = rates.setdefault(llm_s, max(2.0, 0.5 * (result["tickets_per_s"] or 4)))
        n = max(sizes.paced_min, min(sizes.paced_max, round(rate * sizes.paced_seconds)))
        say(
            f"pipeline {system.name} @ {key}: {result['tickets_per_s']} tickets/s; "
            f"latency: {n} tickets paced at {rate:.1f}/s"
        )
        results[key] = {"burst": result, "latency": paced(system, rate, n)}
    results["worker_rss_mb"] = rss_mb(system.worker.pids())
    return results


def profile_burst(system: System, count: int, rate: float, directory: Path) -> Any:
    """An extra burst with py-spy on the worker for the whole drain (not a measured run)."""
    assert system.worker is not None
    # py-spy slows the worker, and a burst's audit stages all run last: sample generously
    # (an idle worker holds no GIL, so the extra seconds add no samples).
    seconds = count / rate * 1.6 + 5
    say(f"pipeline {system.name}: profiling a burst of {count} with py-spy (~{seconds:.0f} s)")
    tokens = queue_paused(system, count)
    recordings = profiling.record([system.worker.pid], seconds, directory, "worker-ours")
    system.worker.resume()
    drain(system, tokens, timeout=60 + count * 0.5, what=f"{system.name}'s profiled burst")
    return profiling.collect(recordings, seconds + 60, "pipeline")


def run_pipeline(
    quick: bool, log_dir: Path, dsn: str, profile: bool = False, with_memory: bool = False
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Ours, then the minimal chain, then the bare chain; figures and ratios (and memory).

    With `with_memory`, our worker also serves the memory bench: its RSS is read once the
    first checkpoint's tickets are through (on the fresh worker), then after the pipeline runs
    it is fed up to each further checkpoint. One worker, no second ten-minute feed.
    """
    sizes = QUICK if quick else FULL
    checkpoints = QUICK_CHECKPOINTS if quick else FULL_CHECKPOINTS
    latencies = sorted(sizes.burst)
    rates: dict[float, float] = {}
    results: dict[str, Any] = {}
    memory: dict[str, Any] | None = None
    with ExitStack() as stack:
        stubs = Stubs(stack, log_dir)
        ours = Ours(dsn, stubs, log_dir)
        minimal = Minimal(dsn, f"{stubs.departments_url}/departments/finance", log_dir)
        bare = Bare(log_dir)
        for system in (ours, minimal, bare):
            stack.callback(system.close)
        # Quick: the three workers start together (the baselines paused until their turn), to
        # keep the smoke test within its minute. Full: each starts when its turn comes.
        early: list[System] = [minimal, bare] if quick else []
        turns = {system.name: start(system, stack) for system in early}
        turns["ours"] = start(ours, stack)
        for system in early:
            assert system.worker is not None
            system.worker.wait_log(" ready.", timeout=120)
            system.worker.pause()
        with turns["ours"]:
            probe = MemoryProbe(ours) if with_memory else None
            if probe is not None:
                probe.reach(checkpoints[0])
            results["ours"] = measure_system(ours, sizes, rates, latencies)
            if profile:
                ours.set_llm_latency(latencies[0])
                first = results["ours"][f"{round(latencies[0] * 1000)}ms"]["burst"]
                count, rate = sizes.burst[latencies[0]], first["tickets_per_s"] or 10
                results["ours"]["profile"] = profile_burst(ours, count, rate, log_dir)
            if probe is not None:
                for checkpoint in checkpoints[1:]:
                    probe.reach(checkpoint)
                memory = probe.result()
        with turns.get("minimal") or start(minimal, stack):
            results["minimal"] = measure_system(minimal, sizes, rates, latencies)
        with turns.get("bare") or start(bare, stack):
            # No LLM in the bare chain: one run serves both latencies (the chain is the same).
            results["bare"] = measure_system(bare, sizes, rates, [0.0])
    section = {
        "settings": {
            "pool": POOL,
            "concurrency": CONCURRENCY,
            "llm_latencies_ms": [round(x * 1000) for x in latencies],
            "burst_tickets": {f"{round(k * 1000)}ms": v for k, v in sizes.burst.items()},
            "paced_seconds": sizes.paced_seconds,
            "method": "burst: N queued with the worker paused, then timed to the last final "
            "ticket; latency: a paced run at half our burst rate, ingest->final from the store",
        },
        "results": results,
        "ratios": pipeline_ratios(results, latencies),
    }
    met = {k: (r["tickets_per_s_vs_minimal"] or 0) >= 0.8 for k, r in section["ratios"].items()}
    section["targets"] = {"tickets_per_s_vs_minimal_min": 0.8, "met": met}
    return section, memory


def pipeline_ratios(results: dict[str, Any], latencies: list[float]) -> dict[str, Any]:
    """Ours over each baseline: throughput, and p50/p95 latency."""
    out: dict[str, Any] = {}
    bare = results["bare"]["0ms"]
    for llm_s in latencies:
        key = f"{round(llm_s * 1000)}ms"
        ours, minimal = results["ours"][key], results["minimal"][key]
        figures = {
            "tickets_per_s": ("burst", "tickets_per_s"),
            "p50": ("latency", "p50_ms"),
            "p95": ("latency", "p95_ms"),
        }
        out[key] = {
            f"{figure}_vs_{name}": ratio(ours[phase][field], base[phase][field])
            for name, base in (("minimal", minimal), ("bare", bare))
            for figure, (phase, field) in figures.items()
        }
    return out
