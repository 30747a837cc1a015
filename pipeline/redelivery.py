"""Counting how often a stage started for a ticket without finishing: poison-message guard."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

import redis

from pipeline.errors import PermanentError


class PoisonMessage(PermanentError):
    """A stage kept dying mid-run (its worker killed each time): failed instead of looping."""


class StageRunCounter(Protocol):
    """Counts unfinished runs of (ticket, stage); a run that ends in any way clears it."""

    def started(self, ticket_id: str, stage: str) -> int:
        """Count one more start and return how many runs have started without finishing."""
        ...

    def finished(self, ticket_id: str, stage: str) -> None:
        """The run ended (success, retry scheduled, or failure recorded)."""
        ...


@dataclass
class InMemoryStageRunCounter:
    """Per process: enough where the broker cannot redeliver across processes anyway."""

    _counts: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def started(self, ticket_id: str, stage: str) -> int:
        with self._lock:
            self._counts[f"{ticket_id}:{stage}"] += 1
            return self._counts[f"{ticket_id}:{stage}"]

    def finished(self, ticket_id: str, stage: str) -> None:
        with self._lock:
            self._counts.pop(f"{ticket_id}:{stage}", None)


class RedisStageRunCounter:
    """Shared by every worker: the count survives the worker that died."""

    def __init__(self, client: redis.Redis, ttl_s: int) -> None:
        self._redis = client
        self._ttl_s = ttl_s

    def started(self, ticket_id: str, stage: str) -> int:
        key = f"triage:runs:{ticket_id}:{stage}"
        pipe = self._redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, self._ttl_s)
        return int(pipe.execute()[0])

    def finished(self, ticket_id: str, stage: str) -> None:
        self._redis.delete(f"triage:runs:{ticket_id}:{stage}")


def build_stage_run_counter(redis_url: str | None, ttl_s: int) -> StageRunCounter:
    """Redis-backed when there is a shared Redis, else per process."""
    if redis_url is None:
        return InMemoryStageRunCounter()
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
    return RedisStageRunCounter(client, ttl_s)
