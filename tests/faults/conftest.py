"""Fault-suite fixtures: a fresh PostgreSQL database and a Redis database per case."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.faults.rig import FaultRig, fault_rig
from tests.support.servers import postgres_database, redis_url

FAULT_REDIS_DB = 14


@pytest.fixture
def fault_database() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture
def rig(tmp_path: Path, fault_database: str) -> Iterator[FaultRig]:
    """The rig on the machine's Redis (a private database) and a fresh PostgreSQL database."""
    broker = redis_url(FAULT_REDIS_DB)
    redis.Redis.from_url(broker).flushdb()
    with fault_rig(tmp_path, fault_database, broker) as rig:
        yield rig
    redis.Redis.from_url(broker).flushdb()
