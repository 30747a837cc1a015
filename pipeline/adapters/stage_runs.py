"""Counting how often a stage started for a ticket without finishing: poison-message guard."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

import redis

from pipeline.adapters.redis_client import redis_client
from pipeline.ports import StageRunCounter


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
    """Shared by every worker: the count survives the worker that died.

    One round trip per run: a finished run's key is deleted with the next start's INCR (same
    pipeline, before it), or by a timer within `flush_after_s` when no start comes.
    """

    def __init__(self, client: redis.Redis, ttl_s: int, flush_after_s: float = 0.2) -> None:
        self._redis = client
        self._ttl_s = ttl_s
        self._flush_after_s = flush_after_s
        self._finished: set[str] = set()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def started(self, ticket_id: str, stage: str) -> int:
        key = f"triage:runs:{ticket_id}:{stage}"
        done = self._take_finished()
        pipe = self._redis.pipeline(transaction=False)
        if done:  # first: a retry of a run that just finished here starts from zero
            pipe.delete(*done)
        pipe.incr(key)
        pipe.expire(key, self._ttl_s)
        try:
            return int(pipe.execute()[-2])
        except Exception:
            self._keep_finished(done)
            raise

    def finished(self, ticket_id: str, stage: str) -> None:
        self._keep_finished({f"triage:runs:{ticket_id}:{stage}"})

    def flush(self) -> None:
        """Delete the keys of finished runs now (the timer's job; tests call it too)."""
        with self._lock:
            self._timer = None
        done = self._take_finished()
        if not done:
            return
        try:
            self._redis.delete(*done)
        except Exception:  # Redis away: the next start (or timer) tries again
            self._keep_finished(done)

    def _take_finished(self) -> set[str]:
        # The timer stays armed: under load it fires at most every `flush_after_s` and mostly
        # finds nothing, where cancelling and re-arming would start a thread per run.
        with self._lock:
            done, self._finished = self._finished, set()
            return done

    def _keep_finished(self, done: set[str]) -> None:
        with self._lock:
            self._finished |= done
            if self._finished and self._timer is None:
                self._timer = threading.Timer(self._flush_after_s, self.flush)
                self._timer.daemon = True
                self._timer.start()


def build_stage_run_counter(redis_url: str | None, ttl_s: int) -> StageRunCounter:
    """Redis-backed when there is a shared Redis, else per process."""
    if redis_url is None:
        return InMemoryStageRunCounter()
    return RedisStageRunCounter(redis_client(redis_url), ttl_s)
