"""Per-key rate limits shared by every API process through Redis (`limits`)."""

from __future__ import annotations

import logging
import math
import time
from typing import cast

from limits import RateLimitItem, parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from ingest_api.errors import ApiError

log = logging.getLogger("triage.api")


class KeyRateLimiter:
    """Counts requests per API key in fixed windows; Redis when configured, else in memory."""

    def __init__(self, limits_spec: str, storage_uri: str) -> None:
        self._items: list[RateLimitItem] = parse_many(limits_spec)
        self._storage = cast(Storage, storage_from_string(storage_uri))
        self._limiter = FixedWindowRateLimiter(self._storage)

    def check(self, key_name: str) -> None:
        """Count one request for the key, or raise 429 with Retry-After."""
        for item in self._items:
            try:
                allowed = self._limiter.hit(item, "api-key", key_name)
            except Exception as error:
                # A limiter outage must not turn into lost tickets: fail open, loudly.
                log.warning("rate limiter unavailable, not limiting: %s", type(error).__name__)
                return
            if not allowed:
                reset = self._limiter.get_window_stats(item, "api-key", key_name).reset_time
                retry_after = max(1, math.ceil(reset - time.time()))
                raise ApiError(
                    429,
                    "rate_limited",
                    f"rate limit {item} exceeded for this key",
                    {"limit": str(item), "retry_after_s": retry_after},
                    {"Retry-After": str(retry_after)},
                )
