"""The backfill's pace: a token bucket of tickets per second, and yielding to live work.

`TRIAGE_BACKFILL_MAX_RATE` tickets per second per backfill worker process (0: no cap). A
group reserves its tickets before it starts and waits for them: reservations queue up in
order, so several threads of one worker share the rate instead of each taking it.
`TRIAGE_BACKFILL_YIELD_S`: while live tickets are under way (accepted, not yet final: queued
or running), backfill work waits before each of its steps (a group's start, each classifier
chunk, route, audit; the loader's next batch), up to that long, looking every `YIELD_STEP_S`.
Nice levels cannot do this on a small host: the live worker, its database backend and Redis
hop between the cores the backfill keeps busy, and each step of a live ticket ran about twice
as slow beside a niced backfill as alone (BENCHMARKS.md).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

# A live ticket untouched this long is not under way: its worker died and the sweeper will
# bring it back; history must not wait on it meanwhile.
LIVE_HORIZON_S = 60.0
YIELD_STEP_S = 0.02  # how often yielding work looks again: a live ticket takes tens of ms


class TokenBucket:
    """Tickets per second, with a burst of `burst` tickets (default: one second's worth)."""

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self._clock = clock
        self._tokens = self.burst
        self._at = clock()
        self._lock = threading.Lock()

    def reserve(self, tickets: int) -> float:
        """Take `tickets` now; the seconds to wait before they may start (0: at once)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            self._tokens -= tickets
            return max(0.0, -self._tokens / self.rate)


class BackfillPace:
    """The pace a backfill worker keeps: unlimited, or a token bucket it waits on."""

    def __init__(
        self,
        max_rate: float,
        *,
        live_work: Callable[[], int | None] | None = None,
        max_yield_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.bucket = TokenBucket(max_rate, clock=clock) if max_rate > 0 else None
        self.live_work = live_work if max_yield_s > 0 else None
        self.max_yield_s = max_yield_s
        self._sleep = sleep

    def wait_for(self, tickets: int) -> float:
        """Wait until `tickets` more may be worked on; the seconds waited."""
        if tickets <= 0:
            return 0.0
        waited = self.yield_to_live()
        wait = self.bucket.reserve(tickets) if self.bucket is not None else 0.0
        if wait > 0:
            self._sleep(wait)
        return waited + wait

    def yield_to_live(self) -> float:
        """Wait while live tickets are under way, at most `max_yield_s`; the seconds waited."""
        if self.live_work is None:
            return 0.0
        looks = 0
        while looks < math.ceil(self.max_yield_s / YIELD_STEP_S - 1e-9):
            try:
                under_way = self.live_work()
            except Exception:  # the store is away: the backfill's own retries deal with it
                break
            if not under_way:
                break
            self._sleep(YIELD_STEP_S)
            looks += 1
        return round(looks * YIELD_STEP_S, 6)
