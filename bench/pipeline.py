"""Pipeline bench: tickets end to end through real workers, ours against two baseline chains.

Three systems on the same Redis, PostgreSQL, pool (threads) and concurrency (8):
- ours: `triage worker` with the Gemini classifier pointed at a stub LLM (0 ms or 200 ms per
  request) and every department pointed at a stub receiver; tickets stored with the product's
  own `TicketStore.accept` and published with `enqueue_after_commit`, as the API does;
- minimal: three tasks doing one UPDATE each, the first sleeping the LLM latency, the second
  POSTing to the same stub department (`bench/baselines/minimal_chain.py`);
- bare: three no-op tasks (`bench/baselines/bare_chain.py`).

Throughput (burst): the worker is paused (SIGSTOP), N tickets are stored and published, the
worker is resumed and timed until the last ticket is final: tickets/s = N / that time.
Latency (paced): tickets arrive at a fixed rate, the same for every system (half our burst
rate), and ingest->final is read from the store (ours: finished_at - received_at).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import profiling
from bench.baselines.systems import Bare, Minimal
from bench.common import (
    ratio,
    say,
)
from bench.phases import burst, drain, paced, paused, reset, warm_up
from bench.processes import rss_mb
from bench.systems import CONCURRENCY, POOL, Ours, Stubs, System


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
    system: System,
    sizes: Sizes,
    rates: dict[float, float],
    latencies: list[float],
    profile_dir: Path | None = None,
) -> dict[str, Any]:
    """On a started worker: per LLM latency a warm-up, a burst and a paced run."""
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
        latency = paced(system, rate, n)
        latency.pop("tokens")
        results[key] = {"burst": result, "latency": latency}
    results["worker_rss_mb"] = round(sum(rss_mb(p) for p in system.worker.pids()), 1)
    if profile_dir is not None:
        first = f"{round(latencies[0] * 1000)}ms"
        system.set_llm_latency(latencies[0])
        results["profile"] = profile_burst(
            system, sizes.burst[latencies[0]], results[first]["burst"]["tickets_per_s"] or 10,
            profile_dir,
        )  # fmt: skip
    return results


def profile_burst(
    system: System, count: int, rate: float, directory: Path
) -> dict[str, Any] | None:
    """An extra burst with py-spy on the worker for the whole drain (not a measured run)."""
    assert system.worker is not None
    reset(system)
    # py-spy slows the worker, and a burst's audit stages all run last: sample generously
    # (an idle worker holds no GIL, so the extra seconds add no samples).
    seconds = count / rate * 1.6 + 5
    say(f"pipeline {system.name}: profiling a burst of {count} with py-spy (~{seconds:.0f} s)")
    with paused(system.worker):
        tokens = [system.submit() for _ in range(count)]
    path = directory / f"py-spy-worker-{system.name}.txt"
    recording = profiling.start_recording(system.worker.pid, seconds, path)
    drain(system, tokens, timeout=60 + count * 0.5, what=f"{system.name}'s profiled burst")
    if recording is None or not recording.wait(seconds + 60):
        say("pipeline: py-spy unavailable or failed; no profile")
        return None
    summary = profiling.summarise([path])
    summary["raw"] = str(path)
    return summary


def run_pipeline(
    quick: bool,
    log_dir: Path,
    dsn: str,
    profile: bool = False,
    memory_checkpoints: tuple[int, ...] | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Ours, then the minimal chain, then the bare chain; figures and ratios.

    With `memory_checkpoints`, our worker also serves the memory bench: its RSS is read once
    the first checkpoint's tickets are through (on the fresh worker), then after the pipeline
    runs it is fed up to each further checkpoint. One worker, no second ten-minute feed.
    """
    from bench.memory import MemoryProbe

    sizes = QUICK if quick else FULL
    latencies = sorted(sizes.burst)
    rates: dict[float, float] = {}
    results: dict[str, Any] = {}
    memory: dict[str, Any] | None = None
    with ExitStack() as stack:
        stubs = Stubs(stack, log_dir)
        ours = Ours(dsn, stubs.routing_file, stubs.gemini_url, stubs.latency, log_dir)
        stack.callback(ours.close)
        minimal = Minimal(dsn, f"{stubs.departments_url}/departments/finance", log_dir)
        stack.callback(minimal.close)
        bare = Bare(log_dir)
        stack.callback(bare.close)
        # Quick: the three workers start together (the baselines paused until their turn), to
        # keep the smoke test within its minute. Full: each starts when its turn comes.
        early: list[System] = [minimal, bare] if quick else []
        for system in early:
            start(system, stack)
        with_ours = start(ours, stack)
        for system in early:
            assert system.worker is not None
            system.worker.wait_log(" ready.", timeout=120)
            system.worker.pause()
        with with_ours:
            probe = MemoryProbe(ours) if memory_checkpoints else None
            if probe is not None and memory_checkpoints:
                probe.reach(memory_checkpoints[0])
            results["ours"] = measure_system(
                ours, sizes, rates, latencies, profile_dir=log_dir if profile else None
            )
            if probe is not None and memory_checkpoints:
                for checkpoint in memory_checkpoints[1:]:
                    probe.reach(checkpoint)
                memory = probe.result()
        with start(minimal, stack) if minimal not in early else resumed(minimal):
            results["minimal"] = measure_system(minimal, sizes, rates, latencies)
        with start(bare, stack) if bare not in early else resumed(bare):
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
        "targets": pipeline_targets(results, latencies),
    }
    return section, memory


def start(system: System, stack: ExitStack) -> contextlib.AbstractContextManager[None]:
    """Start the system's worker now; the returned block is its turn, after which it quits."""
    say(f"pipeline {system.name}: starting its worker ({POOL} x {CONCURRENCY})")
    system.start()
    assert system.worker is not None
    stack.callback(system.worker.quit)  # on any error too
    return resumed(system)


@contextmanager
def resumed(system: System) -> Iterator[None]:
    """The system's turn: its worker runs (resumed if paused) and quits at the end."""
    assert system.worker is not None
    system.worker.resume()
    try:
        yield
    finally:
        # Every ticket is final by now: a cold shutdown loses nothing and takes no time.
        system.worker.quit()


@contextmanager
def started(system: System) -> Iterator[None]:
    """Standalone use: start the worker, run the block, quit the worker."""
    with ExitStack() as stack, start(system, stack):
        yield


def pipeline_ratios(results: dict[str, Any], latencies: list[float]) -> dict[str, Any]:
    """Ours over each baseline: throughput, and p50/p95 latency."""
    out: dict[str, Any] = {}
    bare = results["bare"]["0ms"]
    for llm_s in latencies:
        key = f"{round(llm_s * 1000)}ms"
        ours, minimal = results["ours"][key], results["minimal"][key]
        out[key] = {
            "tickets_per_s_vs_minimal": ratio(
                ours["burst"]["tickets_per_s"], minimal["burst"]["tickets_per_s"]
            ),
            "tickets_per_s_vs_bare": ratio(
                ours["burst"]["tickets_per_s"], bare["burst"]["tickets_per_s"]
            ),
            "p50_vs_minimal": ratio(ours["latency"]["p50_ms"], minimal["latency"]["p50_ms"]),
            "p95_vs_minimal": ratio(ours["latency"]["p95_ms"], minimal["latency"]["p95_ms"]),
            "p50_vs_bare": ratio(ours["latency"]["p50_ms"], bare["latency"]["p50_ms"]),
            "p95_vs_bare": ratio(ours["latency"]["p95_ms"], bare["latency"]["p95_ms"]),
        }
    return out


def pipeline_targets(results: dict[str, Any], latencies: list[float]) -> dict[str, Any]:
    """Target: at least 0.8x the minimal chain's tickets/s at every LLM latency."""
    ratios = pipeline_ratios(results, latencies)
    met = {key: (r["tickets_per_s_vs_minimal"] or 0) >= 0.8 for key, r in ratios.items()}
    return {"tickets_per_s_vs_minimal_min": 0.8, "met": met}
