"""The backfill's pace: a token bucket of tickets per second, and yielding to a live backlog.

`TRIAGE_BACKFILL_MAX_RATE` tickets per second per backfill worker process (0: no cap). A
group reserves its tickets before it starts and waits for them: reservations queue up in
order, so several threads of one worker share the rate instead of each taking it.
`TRIAGE_BACKFILL_YIELD_S`: while live tickets wait in the `live` queue, a group waits (up to
that long, checking every `YIELD_STEP_S`) before it starts, leaving CPU and database to them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

YIELD_STEP_S = 0.25  # how often a yielding group looks at the live queue again


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
        live_backlog: Callable[[], int | None] | None = None,
        max_yield_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.bucket = TokenBucket(max_rate, clock=clock) if max_rate > 0 else None
        self.live_backlog = live_backlog if max_yield_s > 0 else None
        self.max_yield_s = max_yield_s
        self._sleep = sleep

    def wait_for(self, tickets: int) -> float:
        """Wait until `tickets` more may be worked on; the seconds waited."""
        if tickets <= 0:
            return 0.0
        waited = self._yield_to_live()
        wait = self.bucket.reserve(tickets) if self.bucket is not None else 0.0
        if wait > 0:
            self._sleep(wait)
        return waited + wait

    def _yield_to_live(self) -> float:
        """Wait while live tickets queue up, at most `max_yield_s`; the seconds waited."""
        if self.live_backlog is None:
            return 0.0
        waited = 0.0
        while waited < self.max_yield_s:
            try:
                backlog = self.live_backlog()
            except Exception:  # the broker is away: the backfill's own retries deal with it
                return waited
            if not backlog:
                return waited
            self._sleep(YIELD_STEP_S)
            waited += YIELD_STEP_S
        return waited
