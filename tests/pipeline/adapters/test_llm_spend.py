"""The month-to-date spend counter: per calendar month, seeded from the store when missing."""

from __future__ import annotations

from datetime import UTC, datetime

import fakeredis
import pytest
import redis

from pipeline.adapters.llm_spend import MemorySpendLedger, RedisSpendLedger, month_key
from pipeline.ports import SpendLedger

NOV = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
DEC = datetime(2026, 12, 1, 0, 1, tzinfo=UTC)


class Seeds:
    """The store's answer per month start, and how often it was asked."""

    def __init__(self, **by_month: float) -> None:
        self.by_month = by_month
        self.asked: list[datetime] = []

    def __call__(self, start: datetime) -> float:
        self.asked.append(start)
        return self.by_month.get(f"{start:%Y_%m}".replace("_", "m"), 0.0)


@pytest.fixture(params=["memory", "redis"])
def make(request: pytest.FixtureRequest) -> object:
    def build(seed: Seeds) -> SpendLedger:
        if request.param == "memory":
            return MemorySpendLedger(seed)
        return RedisSpendLedger(fakeredis.FakeRedis(), seed)

    return build


def test_each_month_counts_alone_and_starts_from_the_store(make) -> None:  # type: ignore[no-untyped-def]
    seed = Seeds(**{"2026m11": 4.5})
    ledger = make(seed)

    assert ledger.month_to_date(at=NOV) == pytest.approx(4.5)  # the audit trail's spend
    assert ledger.add(0.25, at=NOV) == pytest.approx(4.75)
    assert ledger.add(1.0, at=DEC) == pytest.approx(1.0)  # a new month: its own counter
    assert ledger.month_to_date(at=NOV) == pytest.approx(4.75)
    assert ledger.month_to_date(at=DEC) == pytest.approx(1.0)
    # Seeded once per month, not per call.
    assert seed.asked == [datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)]


def test_redis_keeps_one_key_per_month_with_an_expiry() -> None:
    client = fakeredis.FakeRedis()
    RedisSpendLedger(client, Seeds()).add(0.5, at=DEC)
    assert month_key(DEC) == "triage:llm-spend:2026-12"
    assert float(client.get(month_key(DEC))) == pytest.approx(0.5)
    assert 0 < client.ttl(month_key(DEC)) <= 40 * 24 * 3600


def test_a_redis_outage_reads_the_store_and_never_fails_a_call() -> None:
    class Down(fakeredis.FakeRedis):
        def exists(self, *names: object) -> int:
            raise redis.ConnectionError("down")

    ledger = RedisSpendLedger(Down(), Seeds(**{"2026m12": 7.0}))
    assert ledger.month_to_date(at=DEC) == pytest.approx(7.0)
    assert ledger.add(1.0, at=DEC) == pytest.approx(8.0)
