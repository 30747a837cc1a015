"""What every system goes through: its worker's turn, warm-up, burst (throughput), paced (latency).

Throughput (burst): the worker is paused (SIGSTOP), N tickets are stored and published, the
worker is resumed and timed until the last ticket is final: tickets/s = N / that time.
Latency (paced): tickets arrive at a fixed rate (open loop), ingest->final read from the store.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from bench.common import percentile, say, wait_until
from bench.processes import cpu_seconds
from bench.systems import CONCURRENCY, POOL, System


def start(system: System, stack: ExitStack) -> Any:
    """Start the system's worker now; the returned block is its turn, after which it quits."""
    say(f"{system.name}: starting its worker ({POOL} x {CONCURRENCY})")
    system.start()
    assert system.worker is not None
    stack.callback(system.worker.quit)  # on any error too
    return turn(system)


@contextmanager
def turn(system: System) -> Iterator[None]:
    """The system's turn: its worker runs (resumed if paused) and quits at the end."""
    assert system.worker is not None
    system.worker.resume()
    try:
        yield
    finally:
        system.worker.quit()  # every ticket is final by now: a cold shutdown loses nothing


@contextmanager
def started(system: System) -> Iterator[None]:
    """Standalone use: start the worker, run the block, quit the worker."""
    with ExitStack() as stack, start(system, stack):
        yield


def drain(system: System, tokens: list[str], timeout: float, what: str) -> None:
    """Wait until every ticket is final, checking that the worker lives."""

    def done() -> bool:
        if system.worker is not None:
            system.worker.check()
        return system.finished(tokens) >= len(tokens)

    try:
        wait_until(done, timeout, what)
    except TimeoutError as error:
        left = len(tokens) - system.finished(tokens)
        raise TimeoutError(f"{error} ({left} of {len(tokens)} not final)") from None


def warm_up(system: System, count: int) -> None:
    """First tickets after start: loads models, opens pools, proves the worker consumes."""
    system.reset()
    tokens = [system.submit() for _ in range(count)]
    drain(system, tokens, timeout=120, what=f"{system.name}'s warm-up tickets")


def queue_paused(system: System, count: int) -> list[str]:
    """Submit `count` tickets while the worker is stopped (SIGSTOP); it stays stopped."""
    assert system.worker is not None
    system.reset()
    system.worker.pause()
    try:
        return [system.submit() for _ in range(count)]
    except BaseException:
        system.worker.resume()
        raise


def burst(system: System, count: int) -> dict[str, Any]:
    """Queue `count` tickets with the worker paused, resume, time until all are final."""
    assert system.worker is not None
    tokens = queue_paused(system, count)
    system.worker.resume()
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
    system.reset()
    tokens: list[str] = []
    started_at = time.monotonic()
    for i in range(count):
        delay = started_at + i / rate - time.monotonic()
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
    }
