"""The phases every system goes through: warm-up, burst (throughput), paced (latency)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.baselines.systems import Bare
from bench.common import (
    percentile,
    wait_until,
)
from bench.processes import Service, cpu_seconds
from bench.systems import System


def drain(system: System, tokens: list[str], timeout: float, what: str) -> None:
    """Wait until every ticket is final, checking that the worker lives."""

    def done() -> bool:
        if system.worker is not None and not system.worker.alive():
            raise RuntimeError(f"{system.worker.name} exited:\n{system.worker.tail()}")
        return system.finished(tokens) >= len(tokens)

    try:
        wait_until(done, timeout, what, interval=0.1)
    except TimeoutError as error:
        left = len(tokens) - system.finished(tokens)
        raise TimeoutError(f"{error} ({left} of {len(tokens)} not final)") from None


@contextmanager
def paused(service: Service) -> Iterator[None]:
    """SIGSTOP the worker's process group while the queue fills, SIGCONT afterwards."""
    service.pause()
    try:
        yield
    finally:
        service.resume()


def reset(system: System) -> None:
    """Between phases: forget per-phase markers."""
    if isinstance(system, Bare):
        system.reset()


def warm_up(system: System, count: int) -> None:
    """First tickets after start: loads models, opens pools, proves the worker consumes."""
    reset(system)
    tokens = [system.submit() for _ in range(count)]
    drain(system, tokens, timeout=120, what=f"{system.name}'s warm-up tickets")


def burst(system: System, count: int) -> dict[str, Any]:
    """Queue `count` tickets with the worker paused, resume, time until all are final."""
    assert system.worker is not None
    reset(system)
    with paused(system.worker):
        tokens = [system.submit() for _ in range(count)]
    released = time.time()
    cpu_before = cpu_seconds(system.worker.pids())
    drain(system, tokens, timeout=60 + count * 0.5, what=f"{system.name}'s burst")
    elapsed = time.time() - released
    cpu = cpu_seconds(system.worker.pids()) - cpu_before
    finishes = sorted(done for _, done in system.timings(tokens))
    # Finished times come from the store, so the poll interval adds nothing to the figure.
    span = (finishes[-1] - released) if finishes else elapsed
    return {
        "tickets": count,
        "seconds": round(span, 3),
        "tickets_per_s": round(count / span, 2) if span > 0 else None,
        "worker_cpu_ms_per_ticket": round(cpu * 1000 / count, 2),
        "tokens": tokens,
    }


def paced(system: System, rate: float, count: int) -> dict[str, Any]:
    """Submit `count` tickets at `rate` per second (open loop); latency ingest->final."""
    reset(system)
    tokens: list[str] = []
    started = time.monotonic()
    for i in range(count):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        tokens.append(system.submit())
    drain(system, tokens, timeout=60 + count * 0.5, what=f"{system.name}'s paced run")
    latencies = [(done - ingest) * 1000 for ingest, done in system.timings(tokens)]
    return {
        "rate_per_s": round(rate, 2),
        "tickets": count,
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "max_ms": round(max(latencies), 1) if latencies else None,
        "tokens": tokens,
    }
