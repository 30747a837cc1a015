"""How many messages wait in each broker queue (Redis lists), for status and metrics."""

from __future__ import annotations

import redis

from pipeline.adapters.redis_client import redis_client
from pipeline.domain.lifecycle import Queue


def queue_depths(redis_url: str | None) -> dict[str, int | None]:
    """Messages waiting per queue (None when the broker is not Redis or unreachable)."""
    if redis_url is None:
        return {q.value: None for q in Queue}
    pipe = redis_client(redis_url).pipeline(transaction=False)
    for queue in Queue:
        pipe.llen(queue.value)
    try:
        lengths = pipe.execute()
    except redis.RedisError:
        return {q.value: None for q in Queue}
    return {q.value: int(n) for q, n in zip(Queue, lengths, strict=True)}
