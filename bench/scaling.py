"""Scale-out: two worker processes against one, same broker, same load, same machine.

    python -m bench.scaling [--tickets 400] [--latencies 0,200]

A diagnostic beside the benchmarks (not part of `all`), for the README's capacity model:
`triage worker` (threads x 8, Gemini stub answering after 0 or 200 ms) as one process, then
as two on the same Redis broker and PostgreSQL database. Each run is a burst: N tickets
queued with every worker stopped (SIGSTOP), then timed from release to the last final ticket
(final times from the store). Reports tickets/s, worker CPU ms per ticket (all processes),
and two processes over one as a ratio; writes bench/out/scaling.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.common import Stubs, load_average, machine_info, postgres_database, ratio, say
from bench.processes import cpu_seconds
from bench.systems import CONCURRENCY, POOL, PYTHON, System, our_env, ours

OUT = Path(__file__).parent / "out"


def worker_commands(dsn: str, stubs: Stubs, log_dir: Path, processes: int) -> list[Any]:
    """`processes` identical `triage worker` commands on the run's broker and database."""
    commands = []
    for index in range(processes):
        argv = [PYTHON, "-m", "triage_cli", "worker", "--queues", "live,backfill"]
        argv += ["--pool", POOL, "--concurrency", str(CONCURRENCY), "--metrics-port", "0"]
        env = our_env(
            dsn, stubs, log_dir, f"worker-{index}", TRIAGE_CLASSIFIER="gemini",
            TRIAGE_GEMINI_BASE_URL=stubs.gemini_url, GEMINI_API_KEY="bench-not-a-key",
        )  # fmt: skip
        commands.append((f"worker-{processes}p-{index}", argv, env))
    return commands


def burst(system: System, count: int) -> dict[str, Any]:
    """Queue `count` tickets with every worker stopped, release all, time to the last final."""
    system.reset()
    for service in system.services:
        service.pause()
    try:
        tokens = [system.submit() for _ in range(count)]
    finally:
        for service in system.services:
            service.resume()
    released = time.time()
    pids = [pid for service in system.services for pid in service.pids()]
    cpu_before = cpu_seconds(pids)
    system.drain(tokens, timeout=60 + count * 0.5, what=f"{len(system.services)}-process burst")
    cpu = cpu_seconds(pids) - cpu_before
    finishes = sorted(done for _, done in system.timings(tokens))
    span = (finishes[-1] - released) if finishes else time.time() - released
    return {
        "tickets": count,
        "seconds": round(span, 3),
        "tickets_per_s": round(count / span, 2) if span > 0 else None,
        "worker_cpu_ms_per_ticket": round(cpu * 1000 / count, 2),
        "statuses": system.statuses(tokens),
    }


def measure(processes: int, tickets: int, latencies: Sequence[float], log_dir: Path) -> Any:
    """One system of `processes` workers: a warm-up, then a burst per LLM latency."""
    results: dict[str, Any] = {}
    with postgres_database(f"scaling{processes}") as dsn, ExitStack() as stack:
        stubs = Stubs(stack, log_dir)
        system = ours(dsn, stubs, log_dir, worker_commands(dsn, stubs, log_dir, processes))
        stack.callback(system.close)
        with system.start(stack):
            for service in system.services:
                service.wait_log(" ready.", timeout=120)
            system.warm_up(10 * processes)
            for latency in latencies:
                system.set_llm_latency(latency)
                key = f"{round(latency * 1000)}ms"
                say(f"scaling: {processes} process(es) @ {key}: burst of {tickets}")
                results[key] = burst(system, tickets)
                say(f"scaling: {processes} process(es) @ {key}: {results[key]['tickets_per_s']}/s")
    return results


def main(argv: Sequence[str] | None = None) -> None:
    """Measure one and two worker processes and print the ratio."""
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__)
    parser.add_argument("--tickets", type=int, default=400)
    parser.add_argument("--latencies", default="0,200", help="stub LLM latencies, ms")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the stub departments' access log
    latencies = [int(x) / 1000 for x in args.latencies.split(",")]
    OUT.mkdir(exist_ok=True)
    log_dir = OUT / "logs-scaling"
    log_dir.mkdir(exist_ok=True)
    started = load_average()
    one = measure(1, args.tickets, latencies, log_dir)
    two = measure(2, args.tickets, latencies, log_dir)
    ratios = {key: ratio(two[key]["tickets_per_s"], one[key]["tickets_per_s"]) for key in one}
    report = {
        "machine": machine_info("python -m bench.scaling " + " ".join(argv or [])),
        "load_average": {"start": started, "end": load_average()},
        "settings": {"pool": POOL, "concurrency": CONCURRENCY, "tickets": args.tickets},
        "one_process": one,
        "two_processes": two,
        "two_over_one": ratios,
    }
    (OUT / "scaling.json").write_text(json.dumps(report, indent=2) + "\n")
    header = f"{'LLM':>6} | {'1 process /s':>12} | {'2 processes /s':>14} | {'ratio':>5}"
    print(header + " | CPU ms/ticket 1p / 2p")
    for key in one:
        print(
            f"{key:>6} | {one[key]['tickets_per_s']:>12} | {two[key]['tickets_per_s']:>14} | "
            f"{ratios[key]:>5} | {one[key]['worker_cpu_ms_per_ticket']} / "
            f"{two[key]['worker_cpu_ms_per_ticket']}"
        )


if __name__ == "__main__":
    main()
