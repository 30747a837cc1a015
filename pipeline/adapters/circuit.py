"""A circuit breaker per department: stop hammering an endpoint that keeps failing."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import redis

from pipeline.adapters.redis_client import redis_client
from pipeline.domain.errors import CircuitOpen
from pipeline.ports import CircuitBreaker

log = logging.getLogger("triage.circuit")


@dataclass
class InMemoryCircuitBreaker:
    """One process's breaker (tests, the embedded demo)."""

    threshold: int = 5
    cooldown_s: float = 30.0
    _failures: dict[str, int] = field(default_factory=dict)
    _open_until: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, department: str) -> None:
        with self._lock:
            remaining = self._open_until.get(department, 0.0) - time.monotonic()
        if remaining > 0:
            raise CircuitOpen(f"circuit open for {department}", retry_after=remaining)

    def record_success(self, department: str) -> None:
        with self._lock:
            self._failures.pop(department, None)
            self._open_until.pop(department, None)

    def record_failure(self, department: str) -> None:
        with self._lock:
            count = self._failures.get(department, 0) + 1
            self._failures[department] = count
            if count >= self.threshold:
                self._open_until[department] = time.monotonic() + self.cooldown_s
                self._failures[department] = 0
                log.warning(
                    "circuit opened for department %s for %.0fs", department, self.cooldown_s
                )

    def open_circuits(self) -> dict[str, float]:
        now = time.monotonic()
        with self._lock:
            return {d: round(t - now, 1) for d, t in self._open_until.items() if t > now}


class RedisCircuitBreaker:
    """A breaker shared by every worker (and read by the API's /readyz) through Redis."""

    PREFIX = "triage:circuit"

    def __init__(self, client: redis.Redis, threshold: int = 5, cooldown_s: float = 30.0) -> None:
        self._redis = client
        self.threshold = threshold
        self.cooldown_ms = int(cooldown_s * 1000)

    def check(self, department: str) -> None:
        remaining_ms = self._redis.pttl(f"{self.PREFIX}:open:{department}")
        if isinstance(remaining_ms, int) and remaining_ms > 0:
            raise CircuitOpen(f"circuit open for {department}", retry_after=remaining_ms / 1000)

    def record_success(self, department: str) -> None:
        # A success anywhere closes the shared circuit too (one DEL, one round trip).
        self._redis.delete(
            f"{self.PREFIX}:failures:{department}", f"{self.PREFIX}:open:{department}"
        )

    def record_failure(self, department: str) -> None:
        key = f"{self.PREFIX}:failures:{department}"
        pipe = self._redis.pipeline()
        pipe.incr(key)
        pipe.pexpire(key, self.cooldown_ms * 4)  # old failures do not add up forever
        count = int(pipe.execute()[0])
        if count >= self.threshold:
            self._redis.set(f"{self.PREFIX}:open:{department}", "1", px=self.cooldown_ms)
            self._redis.delete(key)
            log.warning(
                "circuit opened for department %s for %.0fs", department, self.cooldown_ms / 1000
            )

    def open_circuits(self) -> dict[str, float]:
        result: dict[str, float] = {}
        for key in self._redis.scan_iter(f"{self.PREFIX}:open:*"):
            name = key.decode() if isinstance(key, bytes) else str(key)
            remaining_ms = self._redis.pttl(name)
            if isinstance(remaining_ms, int) and remaining_ms > 0:
                result[name.rsplit(":", 1)[-1]] = round(remaining_ms / 1000, 1)
        return result


def build_circuit_breaker(
    redis_url: str | None, threshold: int, cooldown_s: float
) -> CircuitBreaker:
    """Shared through Redis when there is one, else per process."""
    if redis_url is None:
        return InMemoryCircuitBreaker(threshold, cooldown_s)
    return RedisCircuitBreaker(redis_client(redis_url), threshold, cooldown_s)
