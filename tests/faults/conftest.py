"""Fault-suite fixtures: a fresh PostgreSQL database and a Redis database per case."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.faults.rig import FaultRig, fault_rig
from tests.support.servers import redis_url

FAULT_REDIS_DB = 14


@pytest.fixture
def rig(tmp_path: Path, fresh_postgres_url: str) -> Iterator[FaultRig]:
    """The rig on the machine's Redis (a private database) and a fresh PostgreSQL database."""
    broker = redis_url(FAULT_REDIS_DB)
    redis.Redis.from_url(broker).flushdb()
    with fault_rig(tmp_path, fresh_postgres_url, broker) as rig:
        yield rig
    redis.Redis.from_url(broker).flushdb()
