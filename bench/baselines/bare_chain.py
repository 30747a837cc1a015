"""Pipeline baseline (a): a Celery chain of three no-op tasks on the same broker, pool, threads.

The last task appends "<sent> <done>" (epoch seconds) to a Redis list: the only way for the
bench to see that a chain ended, and the smallest thing a task can do.
"""

from __future__ import annotations

import os
import time

import redis
from celery import chain

from bench.baselines.celery_base import baseline_app

QUEUE = "bench_bare"
DONE_KEY = "bench:bare:done"

app = baseline_app("bench_bare", QUEUE)
_redis = redis.Redis.from_url(os.environ["BENCH_BROKER_URL"])


@app.task(name="bare.one")
def one(ticket_id: str) -> None:
    """Nothing."""


@app.task(name="bare.two")
def two(ticket_id: str) -> None:
    """Nothing."""


@app.task(name="bare.three")
def three(ticket_id: str, sent_at: float) -> None:
    """Mark the chain done."""
    _redis.rpush(DONE_KEY, f"{sent_at} {time.time()}")


def submit(ticket_id: str) -> None:
    """Publish one chain (id-only messages, like ours)."""
    chain(one.si(ticket_id), two.si(ticket_id), three.si(ticket_id, time.time())).apply_async(
        queue=QUEUE
    )
