"""Month-to-date LLM spend, one counter per calendar month (UTC) shared by every process.

Redis holds `triage:llm-spend:YYYY-MM` (INCRBYFLOAT per call); when the month's key is missing
(a new Redis, a flushed one) it is seeded from the audit trail first, so a restart never
forgets what the month already cost. In memory when there is no Redis (one process only).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import redis

from pipeline.adapters.redis_client import redis_client
from pipeline.ports import SpendLedger

log = logging.getLogger(__name__)

KEY_PREFIX = "triage:llm-spend"
KEY_TTL_S = 40 * 24 * 3600  # a month's key outlives its month a little, then goes

# The month's spend recorded in the store since the month's start (the audit trail).
Seed = Callable[[datetime], float]


def month_start(at: datetime | None = None) -> datetime:
    """Midnight UTC on the first day of `at`'s month (default: now)."""
    at = (at or datetime.now(UTC)).astimezone(UTC)
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_key(at: datetime | None = None) -> str:
    """The Redis key of `at`'s month."""
    return f"{KEY_PREFIX}:{month_start(at):%Y-%m}"


class RedisSpendLedger:
    """`SpendLedger` in Redis; a Redis error reads the store instead (never fails a call)."""

    def __init__(self, client: redis.Redis, seed: Seed) -> None:
        self.client = client
        self.seed = seed

    def add(self, usd: float, *, at: datetime | None = None) -> float:
        """Charge one call's cost to its month; the month's total after it."""
        key = month_key(at)
        try:
            self._ensure_seeded(key, at)
            return float(self.client.incrbyfloat(key, usd))  # type: ignore[arg-type]
        except redis.RedisError as error:
            log.warning("LLM spend not counted in Redis (%s)", type(error).__name__)
            return self.seed(month_start(at)) + usd

    def month_to_date(self, *, at: datetime | None = None) -> float:
        """The month's spend so far (seeded from the audit trail when not yet counted)."""
        key = month_key(at)
        try:
            self._ensure_seeded(key, at)
            value = self.client.get(key)
            return float(value) if value is not None else 0.0  # type: ignore[arg-type]
        except redis.RedisError as error:
            log.warning("LLM spend unreadable in Redis (%s): from the store", type(error).__name__)
            return self.seed(month_start(at))

    def _ensure_seeded(self, key: str, at: datetime | None) -> None:
        if self.client.exists(key):
            return
        # NX: of two processes seeding at once, one wins and neither adds twice.
        self.client.set(key, repr(self.seed(month_start(at))), nx=True, ex=KEY_TTL_S)


class MemorySpendLedger:
    """`SpendLedger` in this process (the demo, tests), seeded the same way."""

    def __init__(self, seed: Seed | None = None) -> None:
        self.seed = seed or (lambda _start: 0.0)
        self._months: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, usd: float, *, at: datetime | None = None) -> float:
        """Charge one call's cost to its month; the month's total after it."""
        key = month_key(at)
        start = month_start(at)
        with self._lock:
            total = self._months.get(key)
            self._months[key] = (self.seed(start) if total is None else total) + usd
            return self._months[key]

    def month_to_date(self, *, at: datetime | None = None) -> float:
        """The month's spend so far."""
        key = month_key(at)
        with self._lock:
            if key not in self._months:
                self._months[key] = self.seed(month_start(at))
            return self._months[key]


def build_spend_ledger(redis_url: str | None, seed: Seed) -> SpendLedger:
    """The ledger on the shared Redis when there is one, else in memory."""
    if redis_url:
        return RedisSpendLedger(redis_client(redis_url), seed)
    return MemorySpendLedger(seed)
