"""The circuit breaker's contract: its configured threshold and cool-down, shared or not.

A breaker that opens too early stalls a healthy department; one that never opens, or whose
cool-down is a tenth of the configured one, hammers a department that is down.
"""

from __future__ import annotations

import logging

import fakeredis
import pytest

from pipeline.adapters import circuit
from pipeline.adapters.circuit import (
    InMemoryCircuitBreaker,
    RedisCircuitBreaker,
    build_circuit_breaker,
)
from pipeline.domain.errors import CircuitOpen


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 500.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(circuit, "time", clock)
    return clock


def is_open(breaker: InMemoryCircuitBreaker | RedisCircuitBreaker, department: str) -> bool:
    try:
        breaker.check(department)
    except CircuitOpen:
        return True
    return False


def test_the_defaults_are_five_failures_and_thirty_seconds(clock: Clock) -> None:
    breaker = InMemoryCircuitBreaker()
    for _ in range(4):
        breaker.record_failure("finance")
    assert not is_open(breaker, "finance")
    breaker.record_failure("finance")
    with pytest.raises(CircuitOpen) as opened:
        breaker.check("finance")
    assert opened.value.retry_after == pytest.approx(30.0)
    redis_breaker = RedisCircuitBreaker(fakeredis.FakeRedis())
    assert (redis_breaker.threshold, redis_breaker.cooldown_ms) == (5, 30_000)


def test_the_memory_breaker_opens_at_its_threshold_for_its_cooldown(clock: Clock) -> None:
    breaker = InMemoryCircuitBreaker(threshold=3, cooldown_s=40)
    breaker.record_failure("finance")
    breaker.record_failure("finance")
    assert not is_open(breaker, "finance")
    breaker.record_failure("finance")
    with pytest.raises(CircuitOpen) as opened:
        breaker.check("finance")
    assert opened.value.retry_after == pytest.approx(40.0)
    assert breaker.open_circuits() == {"finance": 40.0}
    clock.now += 39.9
    assert is_open(breaker, "finance")
    clock.now += 0.2
    assert not is_open(breaker, "finance")
    assert breaker.open_circuits() == {}


def test_after_a_cooldown_the_count_starts_again(clock: Clock) -> None:
    breaker = InMemoryCircuitBreaker(threshold=2, cooldown_s=10)
    breaker.record_failure("finance")
    breaker.record_failure("finance")
    clock.now += 11
    breaker.record_failure("finance")  # one failure after the cool-down: not open again yet
    assert not is_open(breaker, "finance")


def test_a_success_closes_an_open_memory_circuit(clock: Clock) -> None:
    breaker = InMemoryCircuitBreaker(threshold=1, cooldown_s=60)
    breaker.record_failure("finance")
    assert is_open(breaker, "finance")
    breaker.record_success("finance")
    assert not is_open(breaker, "finance")
    assert breaker.open_circuits() == {}


def test_departments_have_circuits_of_their_own(clock: Clock) -> None:
    breaker = InMemoryCircuitBreaker(threshold=2, cooldown_s=60)
    breaker.record_failure("finance")
    breaker.record_failure("logistics")
    assert not is_open(breaker, "finance") and not is_open(breaker, "logistics")
    breaker.record_success("logistics")
    breaker.record_failure("finance")
    assert is_open(breaker, "finance") and not is_open(breaker, "logistics")


def test_the_redis_breaker_keeps_its_cooldown_in_milliseconds() -> None:
    client = fakeredis.FakeRedis()
    breaker = RedisCircuitBreaker(client, threshold=2, cooldown_s=45)
    breaker.record_failure("finance")
    failures_ttl = client.pttl("triage:circuit:failures:finance")
    assert 4 * 45_000 - 2_000 < failures_ttl <= 4 * 45_000  # old failures expire, not too soon
    assert not is_open(breaker, "finance")
    breaker.record_failure("finance")
    open_ttl = client.pttl("triage:circuit:open:finance")
    assert 45_000 - 2_000 < open_ttl <= 45_000
    assert client.get("triage:circuit:failures:finance") is None  # the count starts again
    with pytest.raises(CircuitOpen) as opened:
        breaker.check("finance")
    assert 43.0 < opened.value.retry_after <= 45.0
    assert set(breaker.open_circuits()) == {"finance"}
    assert 43.0 < breaker.open_circuits()["finance"] <= 45.0


def test_a_redis_success_resets_the_count() -> None:
    breaker = RedisCircuitBreaker(fakeredis.FakeRedis(), threshold=2, cooldown_s=45)
    breaker.record_failure("finance")
    breaker.record_success("finance")
    breaker.record_failure("finance")
    assert not is_open(breaker, "finance")
    breaker.record_failure("finance")
    assert is_open(breaker, "finance")


def test_a_success_closes_an_open_redis_circuit() -> None:
    breaker = RedisCircuitBreaker(fakeredis.FakeRedis(), threshold=1, cooldown_s=60)
    breaker.record_failure("finance")
    breaker.record_success("finance")
    assert not is_open(breaker, "finance")


def test_the_built_breaker_has_the_configured_threshold_and_cooldown(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = build_circuit_breaker(None, threshold=2, cooldown_s=12)
    assert isinstance(memory, InMemoryCircuitBreaker)
    memory.record_failure("finance")
    assert not is_open(memory, "finance")
    memory.record_failure("finance")
    with pytest.raises(CircuitOpen) as opened:
        memory.check("finance")
    assert opened.value.retry_after == pytest.approx(12.0)

    client = fakeredis.FakeRedis()
    urls: list[str] = []

    def connect(url: str) -> fakeredis.FakeRedis:
        urls.append(url)
        return client

    monkeypatch.setattr(circuit, "redis_client", connect)
    shared = build_circuit_breaker("redis://127.0.0.1:6379/3", threshold=3, cooldown_s=7)
    assert isinstance(shared, RedisCircuitBreaker)
    assert (shared.threshold, shared.cooldown_ms) == (3, 7_000)
    assert urls == ["redis://127.0.0.1:6379/3"]
    for _ in range(3):
        shared.record_failure("finance")
    assert 6_000 < client.pttl("triage:circuit:open:finance") <= 7_000  # in the given Redis


def test_opening_is_logged_with_the_department_and_cooldown(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="triage.circuit")
    InMemoryCircuitBreaker(threshold=1, cooldown_s=40).record_failure("finance")
    RedisCircuitBreaker(fakeredis.FakeRedis(), threshold=1, cooldown_s=45).record_failure("it")
    assert [r.getMessage() for r in caplog.records] == [
        "circuit opened for department finance for 40s",
        "circuit opened for department it for 45s",
    ]


def test_the_open_circuit_names_the_department(clock: Clock) -> None:
    memory = InMemoryCircuitBreaker(threshold=1, cooldown_s=40)
    memory.record_failure("finance")
    shared = RedisCircuitBreaker(fakeredis.FakeRedis(), threshold=1, cooldown_s=40)
    shared.record_failure("finance")
    for breaker in (memory, shared):
        with pytest.raises(CircuitOpen, match=r"^circuit open for finance$"):
            breaker.check("finance")


def test_remaining_times_are_rounded_to_a_tenth(clock: Clock) -> None:
    breaker = InMemoryCircuitBreaker(threshold=1, cooldown_s=40)
    breaker.record_failure("finance")
    clock.now += 0.04321
    assert breaker.open_circuits() == {"finance": 40.0}
    clock.now += 10.2
    assert breaker.open_circuits() == {"finance": 29.8}
    clock.now += 29.75679  # exactly at the end: closed, not listed
    assert breaker.open_circuits() == {}
    assert not is_open(breaker, "finance")


def test_within_the_last_second_the_circuit_is_still_open(clock: Clock) -> None:
    breaker = InMemoryCircuitBreaker(threshold=1, cooldown_s=40)
    breaker.record_failure("finance")
    clock.now += 39.5
    with pytest.raises(CircuitOpen) as opened:
        breaker.check("finance")
    assert opened.value.retry_after == pytest.approx(0.5)
    assert not is_open(breaker, "logistics")  # never failed: no circuit at all


def test_after_opening_the_count_starts_from_zero(clock: Clock) -> None:
    breaker = InMemoryCircuitBreaker(threshold=2, cooldown_s=10)
    breaker.record_failure("finance")
    breaker.record_failure("finance")  # opens; the count is reset
    clock.now += 11
    breaker.record_failure("finance")
    assert not is_open(breaker, "finance")
    breaker.record_failure("finance")
    assert is_open(breaker, "finance")


def test_the_redis_circuit_lists_open_departments_with_their_wait() -> None:
    client = fakeredis.FakeRedis()
    breaker = RedisCircuitBreaker(client, threshold=1, cooldown_s=30)
    breaker.record_failure("it:ops")
    assert client.get("triage:circuit:open:it:ops") == b"1"
    listed = breaker.open_circuits()
    assert set(listed) == {"ops"}  # the name after the last colon
    assert 28.0 < listed["ops"] <= 30.0 and listed["ops"] == round(listed["ops"], 1)
    decoded = RedisCircuitBreaker(fakeredis.FakeRedis(decode_responses=True), 1, 30)
    decoded.record_failure("finance")
    assert set(decoded.open_circuits()) == {"finance"}
    client.set("triage:circuit:open:gone", "1")  # no expiry: not a circuit we opened
    assert "gone" not in breaker.open_circuits()


def test_the_circuit_closes_exactly_when_its_cooldown_ends(clock: Clock) -> None:
    breaker = InMemoryCircuitBreaker(threshold=1, cooldown_s=40)
    breaker.record_failure("finance")
    clock.now += 40  # 540.0 exactly
    assert not is_open(breaker, "finance")
    assert breaker.open_circuits() == {}


def test_a_department_that_never_failed_is_closed_whatever_the_clock(clock: Clock) -> None:
    clock.now = 0.5  # a monotonic clock may start anywhere, even near zero
    breaker = InMemoryCircuitBreaker(threshold=1, cooldown_s=40)
    assert not is_open(breaker, "finance")
    breaker.record_success("finance")  # a success with nothing to close is fine
    RedisCircuitBreaker(fakeredis.FakeRedis()).record_success("finance")
    assert breaker.open_circuits() == {}


def shared_pair(threshold: int = 2) -> tuple[RedisCircuitBreaker, RedisCircuitBreaker]:
    """Two workers' breakers on one Redis."""
    server = fakeredis.FakeServer()
    return (
        RedisCircuitBreaker(fakeredis.FakeRedis(server=server), threshold, 60),
        RedisCircuitBreaker(fakeredis.FakeRedis(server=server), threshold, 60),
    )


def test_a_success_after_another_workers_failure_resets_the_count() -> None:
    ours, theirs = shared_pair()
    ours.check("finance")  # no failures counted yet
    theirs.record_failure("finance")
    ours.check("finance")  # now there is one
    ours.record_success("finance")  # so the success must reset it
    theirs.record_failure("finance")
    assert not is_open(ours, "finance")


def test_each_success_without_a_fresh_check_resets_the_count() -> None:
    ours, theirs = shared_pair()
    ours.check("finance")
    ours.record_success("finance")  # nothing to reset: no round trip
    theirs.record_failure("finance")
    ours.record_success("finance")  # not checked since: it must reset
    theirs.record_failure("finance")
    assert not is_open(ours, "finance")


def test_a_success_after_our_own_failure_resets_the_count() -> None:
    ours, _ = shared_pair()
    ours.check("finance")
    ours.record_failure("finance")
    ours.record_success("finance")
    ours.record_failure("finance")
    assert not is_open(ours, "finance")
    ours.record_failure("finance")
    assert is_open(ours, "finance")


def test_redis_waits_are_reported_to_the_millisecond_then_rounded() -> None:
    client = fakeredis.FakeRedis()
    breaker = RedisCircuitBreaker(client, threshold=1, cooldown_s=60)
    breaker.record_failure("finance")
    client.pexpire("triage:circuit:open:finance", 59_000)
    with pytest.raises(CircuitOpen) as opened:
        breaker.check("finance")
    assert opened.value.retry_after == pytest.approx(59.0, abs=0.03)  # not 58.94 (ms / 1001)
    client.pexpire("triage:circuit:open:finance", 29_960)
    assert breaker.open_circuits() == {"finance": 30.0}
    client.pexpire("triage:circuit:open:finance", 29_840)
    listed = breaker.open_circuits()["finance"]
    assert listed == 29.8 and isinstance(listed, float)


def test_counted_failures_are_not_open_circuits() -> None:
    breaker = RedisCircuitBreaker(fakeredis.FakeRedis(), threshold=3, cooldown_s=60)
    breaker.record_failure("finance")
    assert breaker.open_circuits() == {}


def test_a_short_cooldown_is_logged_in_seconds(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="triage.circuit")
    RedisCircuitBreaker(fakeredis.FakeRedis(), threshold=1, cooldown_s=1.5).record_failure("it")
    assert [r.getMessage() for r in caplog.records] == ["circuit opened for department it for 2s"]
