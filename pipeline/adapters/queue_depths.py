"""How many messages wait in each broker queue (Redis lists), for status and metrics."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from pipeline.adapters.redis_client import redis_client
from pipeline.domain.lifecycle import Queue


def _unknown() -> dict[str, int | None]:
    return {q.value: None for q in Queue}


@dataclass(frozen=True)
class RedisQueueDepths:
    """Queue lengths of a Redis broker: one pipelined LLEN per queue."""

    redis_url: str

    def depths(self) -> dict[str, int | None]:
        """Messages waiting per queue (None for each when Redis is unreachable)."""
        pipe = redis_client(self.redis_url).pipeline(transaction=False)
        for queue in Queue:
            pipe.llen(queue.value)
        try:
            lengths = pipe.execute()
        except redis.RedisError:
            return _unknown()
        return {q.value: int(n) for q, n in zip(Queue, lengths, strict=True)}


class UnknownQueueDepths:
    """A broker that cannot be asked (in-memory transport, RabbitMQ without its API)."""

    def depths(self) -> dict[str, int | None]:
        """None for every queue."""
        return _unknown()


@dataclass
class FixedQueueDepths:
    """In-memory queue depths, set by a test or the demo."""

    values: dict[str, int | None]

    def depths(self) -> dict[str, int | None]:
        """The values as set."""
        return {q.value: self.values.get(q.value) for q in Queue}
