"""Fault-suite fixtures: a fresh PostgreSQL database and a broker per case, on each broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.rig import FaultRig, fault_rig
from tests.support.brokers import BROKERS, broker_with_counters

FAULT_REDIS_DB = 14  # the broker, or the counters' Redis beside RabbitMQ
FAULT_LLM_REDIS_DB = 15


@pytest.fixture(params=BROKERS)
def broker_kind(request: pytest.FixtureRequest) -> str:
    """Each case runs once per broker."""
    return str(request.param)


@pytest.fixture
def rig(tmp_path: Path, fresh_postgres_url: str, broker_kind: str) -> Iterator[FaultRig]:
    """The rig on a private broker (Redis database or RabbitMQ vhost) and a fresh database."""
    with (
        broker_with_counters(broker_kind, FAULT_REDIS_DB) as (broker, shared),
        fault_rig(tmp_path, fresh_postgres_url, broker, shared) as rig,
    ):
        yield rig
