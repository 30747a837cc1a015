"""One LLM budget (requests and tokens per window) obeyed by every worker process together.

The provider's quota is per project, not per worker, so the counters live in Redis (in memory
when there is no Redis, which is right only for a single process such as the demo).

- Requests use a moving window (an exact log of grant times): at most N grants in any window
  of `llm_budget_window_s` seconds, across every process sharing the Redis.
- Tokens use a sliding-window counter (two fixed windows, the previous one weighted by how
  much of it still overlaps): a moving log would hold one entry per token. Tokens are charged
  from an estimate before the call; `record_tokens` charges an overrun after.
- The `backfill` queue also passes its own limits, `llm_backfill_share` of each, so historical
  imports can never take more than that share and live traffic always keeps the rest.
- Per-window amounts scale the per-minute settings: `per_minute * window_s / 60` (at least 1).
- Every limit of a call is checked and charged together, atomically: one Lua script, one
  round trip (Redis' own clock, so workers' clocks need not agree).
"""

from __future__ import annotations

import logging
import math
from typing import Protocol

import redis

from pipeline.adapters.llm_windows import Limit
from pipeline.adapters.redis_client import redis_client
from pipeline.settings import Settings

log = logging.getLogger(__name__)

LIVE, BACKFILL = "live", "backfill"
KEY_PREFIX = "triage:llm-budget"
MIN_WAIT_S = 0.05  # a refusal always asks for some wait, so callers never spin
STORAGE_ERROR_WAIT_S = 1.0


class Windows(Protocol):
    """Where the windows live; `acquire` checks and charges every limit at once."""

    def acquire(self, limits: list[tuple[Limit, int]], window_s: int, *, force: bool) -> float:
        """Charge every (limit, cost) and return 0.0, or charge nothing and return the wait.

        With `force` the costs are charged without any check (an overrun already spent).
        """
        ...


class SharedBudget:
    """`LLMBudget` on windows in Redis (shared by processes) or in memory."""

    def __init__(
        self,
        windows: Windows,
        *,
        requests_per_window: int,
        tokens_per_window: int,
        window_s: int,
        backfill_share: float,
    ) -> None:
        self.windows = windows
        self.window_s = window_s

        def limit(kind: str, amount: int, name: str) -> Limit:
            return Limit(f"{KEY_PREFIX}:{name}", kind, max(1, amount))

        requests = limit("log", requests_per_window, "requests")
        tokens = limit("counter", tokens_per_window, "tokens")
        share_requests = limit("log", int(requests_per_window * backfill_share), "backfill-req")
        share_tokens = limit("counter", int(tokens_per_window * backfill_share), "backfill-tok")
        # (limit, charges tokens?): backfill passes its own share and the total live draws on.
        self._checks: dict[str, list[tuple[Limit, bool]]] = {
            LIVE: [(requests, False), (tokens, True)],
            BACKFILL: [
                (share_requests, False),
                (requests, False),
                (share_tokens, True),
                (tokens, True),
            ],
        }

    def try_acquire(self, tokens: int, *, queue: str = LIVE) -> float:
        """0.0 when one request of `tokens` estimated tokens is granted, else seconds to wait."""
        costs = [(lim, lim.cost(tokens if by_tokens else 1)) for lim, by_tokens in self._for(queue)]
        try:
            wait = self.windows.acquire(costs, self.window_s, force=False)
        except redis.RedisError as exc:  # Redis down: refuse (fail closed), retry later
            log.warning("LLM budget storage unavailable: %s", type(exc).__name__)
            return STORAGE_ERROR_WAIT_S
        # A token counter can need up to two windows to drain (the previous one still counts).
        return 0.0 if wait <= 0 else min(max(wait, MIN_WAIT_S), 2.0 * self.window_s)

    def record_tokens(self, actual: int, *, estimated: int, queue: str = LIVE) -> None:
        """Charge the tokens a granted call used beyond its estimate (best effort).

        An underrun is not refunded; an overrun is charged even past the limit (the tokens
        were spent), which makes the next calls wait: keep estimates on the generous side.
        """
        extra = actual - estimated
        if extra <= 0:
            return
        costs = [(lim, extra) for lim, by_tokens in self._for(queue) if by_tokens]
        try:
            self.windows.acquire(costs, self.window_s, force=True)
        except redis.RedisError as exc:  # accounting only: never fail a classification for it
            log.warning("LLM budget storage unavailable: %s", type(exc).__name__)

    def _for(self, queue: str) -> list[tuple[Limit, bool]]:
        return self._checks[BACKFILL if queue == BACKFILL else LIVE]


def per_window(per_minute: int, window_s: int) -> int:
    """A per-minute setting scaled to the budget window (at least 1)."""
    return max(1, math.floor(per_minute * window_s / 60))


def build_budget(settings: Settings, windows: Windows | None = None) -> SharedBudget:
    """The budget from settings: Redis when there is a shared Redis URL, else in memory."""
    from pipeline.adapters.llm_windows import MemoryWindows, RedisWindows

    if windows is None:
        url = settings.shared_redis_url()
        windows = (
            # A hung Redis must not hang every LLM stage: refuse and come back later.
            RedisWindows(redis_client(url)) if url else MemoryWindows()
        )
    window = settings.llm_budget_window_s
    return SharedBudget(
        windows,
        requests_per_window=per_window(settings.llm_requests_per_minute, window),
        tokens_per_window=per_window(settings.llm_tokens_per_minute, window),
        window_s=window,
        backfill_share=settings.llm_backfill_share,
    )
