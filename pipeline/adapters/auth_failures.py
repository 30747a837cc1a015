"""Failed authentications per client address, shared by every API process (`limits`)."""

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
NAMESPACE = "auth-failures"


class AddressFailureLimiter:
    """Counts failed authentications per address in fixed windows (Redis when shared).

    Past any of its limits, an address is refused before its key is even looked at, so
    guessing keys costs neither a hash nor a database query. A limiter outage fails open.
    """

    def __init__(self, limits_spec: str, storage_uri: str) -> None:
        self._items: list[RateLimitItem] = parse_many(limits_spec)
        self._storage = cast(Storage, storage_from_string(storage_uri))
        self._limiter = FixedWindowRateLimiter(self._storage)

    def blocked(self, address: str) -> RateLimitExceeded | None:
        """The limit this address already broke, or None (it may try)."""
        for item in self._items:
            try:
                if self._limiter.test(item, NAMESPACE, address):
                    continue
                reset = self._limiter.get_window_stats(item, NAMESPACE, address).reset_time
            except Exception as error:
                log.warning("auth failure limiter unavailable: %s", type(error).__name__)
                return None
            return RateLimitExceeded(str(item), max(1, math.ceil(reset - time.time())))
        return None

    def failed(self, address: str) -> None:
        """Count one failure against every window of the address."""
        for item in self._items:
            try:
                self._limiter.hit(item, NAMESPACE, address)
            except Exception as error:
                log.warning("auth failure limiter unavailable: %s", type(error).__name__)
                return


class InMemoryAuthFailures(AddressFailureLimiter):
    """The same limiter on `limits`' memory storage: one process (tests, the demo)."""

    def __init__(self, limits_spec: str) -> None:
        super().__init__(limits_spec, "memory://")


def build_auth_failures(limits_spec: str, redis_url: str | None) -> AddressFailureLimiter:
    """Shared through Redis when there is one, else in this process's memory."""
    if redis_url is None:
        return InMemoryAuthFailures(limits_spec)
    return AddressFailureLimiter(limits_spec, redis_url)
