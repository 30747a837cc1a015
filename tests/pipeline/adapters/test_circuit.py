"""The circuit breaker opens after repeated failures, waits, and closes on success."""

from __future__ import annotations

import fakeredis
import pytest

from pipeline.adapters.circuit import InMemoryCircuitBreaker, RedisCircuitBreaker
from pipeline.domain.errors import CircuitOpen
from pipeline.ports import CircuitBreaker


@pytest.fixture(params=["memory", "redis"])
def breaker(request: pytest.FixtureRequest) -> CircuitBreaker:
    if request.param == "memory":
        return InMemoryCircuitBreaker(threshold=3, cooldown_s=60)
    return RedisCircuitBreaker(fakeredis.FakeRedis(), threshold=3, cooldown_s=60)


def test_opens_at_the_threshold_and_reports_itself(breaker: CircuitBreaker) -> None:
    for _ in range(2):
        breaker.record_failure("finance")
    breaker.check("finance")  # still closed
    breaker.record_failure("finance")
    with pytest.raises(CircuitOpen) as opened:
        breaker.check("finance")
    assert 0 < opened.value.retry_after <= 60
    assert not opened.value.counts_as_attempt
    assert set(breaker.open_circuits()) == {"finance"}
    breaker.check("logistics")  # other departments are unaffected


def test_success_resets_the_count(breaker: CircuitBreaker) -> None:
    breaker.record_failure("finance")
    breaker.record_failure("finance")
    breaker.record_success("finance")
    breaker.record_failure("finance")
    breaker.check("finance")


def test_cooldown_expires() -> None:
    breaker = InMemoryCircuitBreaker(threshold=1, cooldown_s=0.01)
    breaker.record_failure("x")
    from tests.support.waiting import wait_for

    def closed() -> bool:
        try:
            breaker.check("x")
        except CircuitOpen:
            return False
        return True

    wait_for(closed, timeout=5, what="circuit to close after its cool-down")
