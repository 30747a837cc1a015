"""The API keys' generation in Redis: a key created or revoked is seen by every process at once."""

from __future__ import annotations

import logging
import threading
import time

from pipeline.adapters.redis_client import redis_client

log = logging.getLogger("triage.api")
GENERATION_KEY = "triage:api-keys:generation"
PAUSE_AFTER_ERROR_S = 5.0  # a Redis that does not answer is not asked on every request


class RedisKeyChanges:
    """One INCR per change, one GET per request; unreadable: None (caches expire by time)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._paused_until = 0.0

    def generation(self) -> int | None:
        """The current generation, or None when Redis did not answer (or recently did not)."""
        if time.monotonic() < self._paused_until:
            return None
        try:
            value = redis_client(self._url).get(GENERATION_KEY)
        except Exception as error:
            self._paused_until = time.monotonic() + PAUSE_AFTER_ERROR_S
            log.warning("key generation unreadable: %s", type(error).__name__)
            return None
        return int(value) if value is not None else 0  # type: ignore[arg-type]

    def announce(self) -> bool:
        """Move the generation on; False when Redis did not answer."""
        try:
            redis_client(self._url).incr(GENERATION_KEY)
        except Exception as error:
            log.warning("key generation not announced: %s", type(error).__name__)
            return False
        return True


class InMemoryKeyChanges:
    """The generation in this process only (tests, the demo, an API without Redis)."""

    def __init__(self) -> None:
        self._generation = 0
        self._lock = threading.Lock()

    def generation(self) -> int | None:
        """The current generation."""
        return self._generation

    def announce(self) -> bool:
        """Move the generation on."""
        with self._lock:
            self._generation += 1
        return True
