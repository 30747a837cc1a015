"""Pipeline and memory benches: tickets end to end through real workers, ours against two chains.

Pipeline: three systems (`bench.systems`) on the same Redis, PostgreSQL, pool (threads) and
concurrency (8): ours with the stub LLM answering in 0 or 200 ms, the minimal chain sleeping as
long, and the bare chain. Per LLM latency each gets a burst (throughput) and a paced run
(latency) at the same rate for all three: half our burst rate.

Memory: our worker is fed tickets with a bounded backlog; its RSS (the worker process and any
pool children, from /proc) is sampled all along and read at each checkpoint once every ticket
fed so far is final (checkpoints count every ticket it has finished since it started).
Standalone (`python -m bench memory`) a fresh worker is fed to each checkpoint in turn; under
`all` the pipeline's worker serves: first checkpoint on the fresh worker, then the pipeline
runs, then the rest. One worker, no second ten-minute feed.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import profiling
from bench.common import Stubs, ratio, say
from bench.processes import rss_mb
from bench.systems import CONCURRENCY, FINAL, POOL, System, bare, minimal, ours


@dataclass(frozen=True)
class Sizes:
    """How many tickets each phase uses, and the memory bench's checkpoints."""

    warmup: int
    burst: dict[float, int]  # by LLM latency in seconds
    paced_seconds: float
    paced_max: int
    paced_min: int
    checkpoints: tuple[int, ...]


FULL = Sizes(30, {0.0: 500, 0.2: 300}, paced_seconds=10, paced_max=250, paced_min=10,
             checkpoints=(1_000, 10_000))  # fmt: skip
# The CI smoke test (`make bench-quick`, under a minute with every other bench): just enough
# tickets to prove every phase works; its figures are not comparable with a full run's. At our
# ~20 tickets/s 1000 tickets alone would take ~50 s; under `all --quick` the pipeline's ~55
# tickets come between the two checkpoints.
QUICK = Sizes(3, {0.0: 30, 0.2: 10}, paced_seconds=1.0, paced_max=6, paced_min=5,
              checkpoints=(10, 80))  # fmt: skip
BACKLOG = 200  # tickets submitted but not final: enough to keep every thread busy
FLAT_MAX_GROWTH_PCT = 5.0  # "flat": RSS grows less than this from the first checkpoint to the last


def key_of(llm_s: float) -> str:
    """A latency's key in results.json: 0ms, 200ms."""
    return f"{round(llm_s * 1000)}ms"


def measure_system(
    system: System, sizes: Sizes, rates: dict[float, float], latencies: list[float]
) -> dict[str, Any]:
    """On a started worker: a warm-up, then per LLM latency a burst and a paced run."""
    results: dict[str, Any] = {}
    for llm_s in latencies:
        key = key_of(llm_s)
        system.set_llm_latency(llm_s)
        if llm_s == latencies[0]:
            system.warm_up(sizes.warmup)  # once: pools and clients stay warm across latencies
        count = sizes.burst[llm_s]
        say(f"pipeline {system.name} @ {key}: burst of {count} tickets")
        result = system.burst(count)
        tokens = result.pop("tokens")
        if system.name == "ours":
            result["statuses"] = system.statuses(tokens)
        # Ours runs first: its burst rate sets the paced rate every system gets.
        rate = rates.setdefault(llm_s, max(2.0, 0.5 * (result["tickets_per_s"] or 4)))
        n = max(sizes.paced_min, min(sizes.paced_max, round(rate * sizes.paced_seconds)))
        say(
            f"pipeline {system.name} @ {key}: {result['tickets_per_s']} tickets/s; "
            f"latency: {n} tickets paced at {rate:.1f}/s"
        )
        results[key] = {"burst": result, "latency": system.paced(rate, n)}
    results["worker_rss_mb"] = rss_mb(system.worker.pids())
    return results


def profile_burst(system: System, count: int, rate: float, directory: Path) -> Any:
    """An extra burst with py-spy on the worker for the whole drain (not a measured run)."""
    # py-spy slows the worker, and a burst's audit stages all run last: sample generously
    # (an idle worker holds no GIL, so the extra seconds add no samples).
    seconds = count / rate * 1.6 + 5
    say(f"pipeline {system.name}: profiling a burst of {count} with py-spy (~{seconds:.0f} s)")
    tokens = system.queue_paused(count)
    recordings = profiling.record([system.worker.pid], seconds, directory, "worker-ours")
    system.worker.resume()
    system.drain(tokens, timeout=60 + count * 0.5, what=f"{system.name}'s profiled burst")
    return profiling.collect(recordings, seconds + 60, "pipeline")


def run_pipeline(
    quick: bool, log_dir: Path, dsn: str, profile: bool = False, with_memory: bool = False
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Ours, then the minimal chain, then the bare chain; figures and ratios (and memory)."""
    sizes = QUICK if quick else FULL
    latencies = sorted(sizes.burst)
    rates: dict[float, float] = {}
    results: dict[str, Any] = {}
    memory: dict[str, Any] | None = None
    with ExitStack() as stack:
        stubs = Stubs(stack, log_dir)
        systems = [ours(dsn, stubs, log_dir), minimal(dsn, stubs, log_dir), bare(stubs, log_dir)]
        for system in systems:
            stack.callback(system.close)
        first, *baselines = systems
        # Quick: the three workers start together (the baselines paused until their turn), to
        # keep the smoke test within its minute. Full: each starts when its turn comes.
        turns = {system.name: system.start(stack) for system in (baselines if quick else [])}
        turns["ours"] = first.start(stack)
        for system in baselines if quick else []:
            system.worker.wait_log(" ready.", timeout=120)
            system.worker.pause()
        with turns["ours"]:
            probe = MemoryProbe(first) if with_memory else None
            if probe is not None:
                probe.reach(sizes.checkpoints[0])
            results["ours"] = measure_system(first, sizes, rates, latencies)
            if profile:
                first.set_llm_latency(latencies[0])
                burst = results["ours"][key_of(latencies[0])]["burst"]
                count, rate = sizes.burst[latencies[0]], burst["tickets_per_s"] or 10
                results["ours"]["profile"] = profile_burst(first, count, rate, log_dir)
            if probe is not None:
                for checkpoint in sizes.checkpoints[1:]:
                    probe.reach(checkpoint)
                memory = probe.result()
        for system in baselines:
            with turns.get(system.name) or system.start(stack):
                # No LLM in the bare chain: one run serves both latencies (the chain is the same).
                measured = latencies if system.name == "minimal" else [0.0]
                results[system.name] = measure_system(system, sizes, rates, measured)
    section = {
        "settings": {
            "pool": POOL,
            "concurrency": CONCURRENCY,
            "llm_latencies_ms": [round(x * 1000) for x in latencies],
            "burst_tickets": {key_of(k): v for k, v in sizes.burst.items()},
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
    figures = {
        "tickets_per_s": ("burst", "tickets_per_s"),
        "p50": ("latency", "p50_ms"),
        "p95": ("latency", "p95_ms"),
    }
    out: dict[str, Any] = {}
    for key in map(key_of, latencies):
        ours_, baselines = results["ours"][key], {"minimal": results["minimal"][key]}
        baselines["bare"] = results["bare"]["0ms"]
        out[key] = {
            f"{figure}_vs_{name}": ratio(ours_[phase][field], base[phase][field])
            for name, base in baselines.items()
            for figure, (phase, field) in figures.items()
        }
    return out


class MemoryProbe:
    """Feeds our running worker up to checkpoints and reads its RSS there."""

    def __init__(self, system: System) -> None:
        self.system, self.worker = system, system.worker
        self.samples: list[tuple[int, float]] = []
        self.at_checkpoint: dict[str, float] = {}
        self.fed_seconds, self.fed_tickets = 0.0, 0

    def finished(self) -> int:
        """Tickets this worker has brought to a final state since it started."""
        sql = "SELECT count(*) FROM tickets WHERE status = ANY(%s)"
        return int(self.system.query(sql, (list(FINAL),))[0][0])

    def reach(self, target: int) -> None:
        """Feed tickets (LLM at 0 ms, at most BACKLOG unfinished) until `target` are final."""
        self.system.set_llm_latency(0.0)
        already = submitted = done = self.finished()
        say(f"memory: feeding the worker from {already} to {target} tickets")
        begun = last_report = time.monotonic()
        deadline = begun + 60 + target * 0.5
        while done < target:
            self.worker.check()
            for _ in range(max(0, min(BACKLOG - (submitted - done), target - submitted))):
                self.system.submit()
                submitted += 1
            time.sleep(0.2)
            done = self.finished()
            if done:  # before the first ticket the worker may still be importing
                self.samples.append((done, rss_mb(self.worker.pids())))
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
        self.at_checkpoint[str(target)] = rss_mb(self.worker.pids())
        say(f"memory: after {target:,} tickets RSS {self.at_checkpoint[str(target)]} MiB")

    def result(self) -> dict[str, Any]:
        """The section for results.json."""
        points = sorted(self.at_checkpoint.items(), key=lambda kv: int(kv[0]))
        (first_n, first), (last_n, last) = points[0], points[-1]
        growth_pct = round(100 * (last - first) / first, 2) if first else None
        span_k = (int(last_n) - int(first_n)) / 1000
        step = max(1.0, (len(self.samples) - 1) / 23)  # the curve: at most 24 points, evenly
        curve = [list(self.samples[round(i * step)]) for i in range(min(24, len(self.samples)))]
        fed = self.fed_tickets / self.fed_seconds if self.fed_seconds else None
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
            "fed_tickets_per_s": round(fed, 1) if fed is not None else None,
            "statuses": self.system.statuses(),
            "curve": curve,
            "targets": {
                "max_growth_pct": FLAT_MAX_GROWTH_PCT,
                "met": growth_pct is not None and growth_pct <= FLAT_MAX_GROWTH_PCT,
            },
        }


def run_memory(quick: bool, log_dir: Path, dsn: str) -> dict[str, Any]:
    """Standalone: a fresh worker fed to each checkpoint in turn."""
    with ExitStack() as stack:
        system = ours(dsn, Stubs(stack, log_dir), log_dir)
        stack.callback(system.close)
        with system.start(stack):
            probe = MemoryProbe(system)
            for checkpoint in (QUICK if quick else FULL).checkpoints:
                probe.reach(checkpoint)
            return probe.result()
