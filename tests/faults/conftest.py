"""Fault-suite fixtures: a fresh PostgreSQL database and a broker per case, on each broker."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from tests.faults.rig import FaultRig, fault_rig
from tests.support.brokers import BROKERS, RabbitBroker, RedisBroker, broker_for
from tests.support.servers import redis_url

FAULT_REDIS_DB = 14  # the broker, or the counters' Redis beside RabbitMQ
FAULT_LLM_REDIS_DB = 15


@contextmanager
def case_broker(
    kind: str, redis_db: int
) -> Iterator[tuple[RedisBroker | RabbitBroker, str | None]]:
    """The case's broker and, beside RabbitMQ, the counters' Redis (both emptied after)."""
    with broker_for(kind, redis_db) as broker:
        if broker.name == "redis":
            yield broker, None
            return
        shared = redis_url(redis_db)
        redis.Redis.from_url(shared).flushdb()
        try:
            yield broker, shared
        finally:
            redis.Redis.from_url(shared).flushdb()


@pytest.fixture(params=BROKERS)
def broker_kind(request: pytest.FixtureRequest) -> str:
    """Each case runs once per broker."""
    return str(request.param)


@pytest.fixture
def rig(tmp_path: Path, fresh_postgres_url: str, broker_kind: str) -> Iterator[FaultRig]:
    """The rig on a private broker (Redis database or RabbitMQ vhost) and a fresh database."""
    with (
        case_broker(broker_kind, FAULT_REDIS_DB) as (broker, shared),
        fault_rig(tmp_path, fresh_postgres_url, broker, shared) as rig,
    ):
        yield rig
