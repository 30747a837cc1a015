"""Per-key rate limits shared by every API process through Redis (the `limits` package)."""

from __future__ import annotations

import logging
import math
import time
from typing import cast

from limits import RateLimitItem, parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from pipeline.ports import RateLimitExceeded

log = logging.getLogger("triage.api")


class KeyRateLimiter:
    """Counts requests per API key in fixed windows; Redis storage when shared, else memory.

    The `memory://` storage is the in-memory implementation (one process: tests, the demo).
    """

    def __init__(self, limits_spec: str, storage_uri: str) -> None:
        self._items: list[RateLimitItem] = parse_many(limits_spec)
        self._storage = cast(Storage, storage_from_string(storage_uri))
        self._limiter = FixedWindowRateLimiter(self._storage)

    def hit(self, key_name: str) -> RateLimitExceeded | None:
        """Count one request for the key; the limit it broke, if any (None: go ahead)."""
        for item in self._items:
            try:
                allowed = self._limiter.hit(item, "api-key", key_name)
            except Exception as error:
                # A limiter outage must not turn into lost tickets: fail open, loudly.
                log.warning("rate limiter unavailable, not limiting: %s", type(error).__name__)
                return None
            if not allowed:
                reset = self._limiter.get_window_stats(item, "api-key", key_name).reset_time
                return RateLimitExceeded(str(item), max(1, math.ceil(reset - time.time())))
        return None


def build_rate_limiter(limits_spec: str, redis_url: str | None) -> KeyRateLimiter:
    """Shared through Redis when there is one (its own client and timeouts), else in memory."""
    return KeyRateLimiter(limits_spec, redis_url or "memory://")
