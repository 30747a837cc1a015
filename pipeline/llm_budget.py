"""One LLM budget (requests and tokens per window) obeyed by every worker process together.

The provider's quota is per project, not per worker, so the counters live in Redis (in memory
when there is no Redis, which is right only for a single process such as the demo).

- Requests use a moving window (`limits`' exact log of grant times): at most N grants in any
  window of `llm_budget_window_s` seconds, across every process sharing the Redis.
- Tokens use `limits`' sliding-window counter: a moving log would hold one entry per token.
  Tokens are charged from an estimate before the call; `record_tokens` charges an overrun after.
- The `backfill` queue also passes its own limits, `llm_backfill_share` of each, so historical
  imports can never take more than that share and live traffic always keeps the rest.
- Per-window amounts scale the per-minute settings: `per_minute * window_s / 60` (at least 1).
- A refused acquisition may have consumed part of the budget (e.g. a request slot when the
  token check then failed under a race): we err towards spending less, never more.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Protocol

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter, RateLimiter, SlidingWindowCounterRateLimiter

from pipeline.errors import LLMUnavailable
from pipeline.settings import Settings

log = logging.getLogger(__name__)

LIVE, BACKFILL = "live", "backfill"
KEY_PREFIX = "triage:llm-budget"
MIN_WAIT_S = 0.05  # a refusal always asks for some wait, so callers never spin
STORAGE_ERROR_WAIT_S = 1.0


class LLMBudgetExhausted(LLMUnavailable):
    """The shared budget said wait: retry after `retry_after` seconds, without using a retry."""

    counts_as_attempt = False


class LLMBudget(Protocol):
    """A budget shared by every process; never blocks."""

    def try_acquire(self, tokens: int, *, queue: str = LIVE) -> float:
        """0.0 when one request of `tokens` estimated tokens is granted, else seconds to wait."""
        ...

    def record_tokens(self, actual: int, *, estimated: int, queue: str = LIVE) -> None:
        """Charge the tokens a granted call used beyond its estimate (best effort)."""
        ...


@dataclass(frozen=True)
class _Limit:
    limiter: RateLimiter
    item: RateLimitItem
    name: str

    def cost(self, amount: int) -> int:
        # One oversized ticket must still pass once the window is empty, not wait forever.
        return max(0, min(amount, self.item.amount))

    def test(self, amount: int) -> bool:
        return self.limiter.test(self.item, self.name, cost=self.cost(amount))

    def hit(self, amount: int) -> bool:
        cost = self.cost(amount)
        return cost == 0 or self.limiter.hit(self.item, self.name, cost=cost)

    def wait(self) -> float:
        reset_at = self.limiter.get_window_stats(self.item, self.name).reset_time
        return reset_at - time.time()


class LimitsBudget:
    """`LLMBudget` on the `limits` library: Redis storage shared by processes, or memory."""

    def __init__(
        self,
        storage: Storage,
        *,
        requests_per_window: int,
        tokens_per_window: int,
        window_s: int,
        backfill_share: float,
    ) -> None:
        self.window_s = window_s
        by_log = MovingWindowRateLimiter(storage)
        by_counter = SlidingWindowCounterRateLimiter(storage)

        def limit(limiter: RateLimiter, amount: int, name: str) -> _Limit:
            item = RateLimitItemPerSecond(max(1, amount), window_s, namespace="llm")
            return _Limit(limiter, item, name)

        requests = limit(by_log, requests_per_window, "requests")
        tokens = limit(by_counter, tokens_per_window, "tokens")
        share_requests = limit(by_log, int(requests_per_window * backfill_share), "backfill-req")
        share_tokens = limit(by_counter, int(tokens_per_window * backfill_share), "backfill-tok")
        # (limit, charges tokens?) in the order they are checked: backfill passes its own share
        # first, then the total that live traffic draws on too.
        self._checks: dict[str, list[tuple[_Limit, bool]]] = {
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
        checks = [(limit, tokens if by_tokens else 1) for limit, by_tokens in self._for(queue)]
        try:
            # test() first so that a refusal mostly spends nothing; hit() is the atomic decision.
            for limit, amount in checks:
                if not limit.test(amount):
                    return self._wait(limit)
            for limit, amount in checks:
                if not limit.hit(amount):
                    return self._wait(limit)
        except StorageError as exc:  # Redis down: refuse (fail closed), the caller retries later
            log.warning("LLM budget storage unavailable: %s", type(exc.storage_error).__name__)
            return STORAGE_ERROR_WAIT_S
        return 0.0

    def record_tokens(self, actual: int, *, estimated: int, queue: str = LIVE) -> None:
        """Charge the tokens a granted call used beyond its estimate (best effort).

        An underrun is not refunded, and an overrun that no longer fits the window is dropped
        (limits refuses a hit whole): keep estimates on the generous side.
        """
        extra = actual - estimated
        if extra <= 0:
            return
        try:
            for limit, by_tokens in self._for(queue):
                if by_tokens:
                    limit.hit(extra)
        except StorageError as exc:  # accounting only: never fail a classification for it
            log.warning("LLM budget storage unavailable: %s", type(exc.storage_error).__name__)

    def _for(self, queue: str) -> list[tuple[_Limit, bool]]:
        return self._checks[BACKFILL if queue == BACKFILL else LIVE]

    def _wait(self, limit: _Limit) -> float:
        return min(max(limit.wait(), MIN_WAIT_S), float(self.window_s))


def per_window(per_minute: int, window_s: int) -> int:
    """A per-minute setting scaled to the budget window (at least 1)."""
    return max(1, math.floor(per_minute * window_s / 60))


def build_budget(settings: Settings, storage: Storage | None = None) -> LimitsBudget:
    """The budget from settings: Redis when there is a shared Redis URL, else in memory."""
    if storage is None:
        url = settings.shared_redis_url()
        storage = (
            RedisStorage(
                url,
                key_prefix=KEY_PREFIX,
                wrap_exceptions=True,
                # A hung Redis must not hang every LLM stage: refuse and come back later.
                socket_timeout=2,
                socket_connect_timeout=2,
            )
            if url
            else MemoryStorage()
        )
    window = settings.llm_budget_window_s
    return LimitsBudget(
        storage,
        requests_per_window=per_window(settings.llm_requests_per_minute, window),
        tokens_per_window=per_window(settings.llm_tokens_per_minute, window),
        window_s=window,
        backfill_share=settings.llm_backfill_share,
    )
