"""The poison-message guard's shared counter: one round trip per run, nothing left over."""

from __future__ import annotations

import fakeredis

from pipeline.adapters.stage_runs import RedisStageRunCounter
from tests.support.waiting import wait_for


def counter(**kwargs: float) -> tuple[RedisStageRunCounter, fakeredis.FakeRedis]:
    client = fakeredis.FakeRedis()
    return RedisStageRunCounter(client, ttl_s=60, **kwargs), client


def test_runs_that_died_keep_counting() -> None:
    runs, _ = counter()
    assert [runs.started("t1", "classify") for _ in range(3)] == [1, 2, 3]
    assert runs.started("t1", "route") == 1


def test_a_finished_run_is_forgotten_before_the_next_start() -> None:
    runs, client = counter(flush_after_s=60)  # no timer: the start itself deletes
    assert runs.started("t1", "classify") == 1
    runs.finished("t1", "classify")
    assert runs.started("t1", "classify") == 1  # a retry starts from zero
    assert client.ttl("triage:runs:t1:classify") > 0  # and still expires if it dies


def test_a_finished_run_is_forgotten_without_another_start() -> None:
    runs, client = counter(flush_after_s=0.01)
    runs.started("t1", "audit")
    runs.finished("t1", "audit")
    wait_for(lambda: not client.exists("triage:runs:t1:audit"), timeout=5, what="the timer")


def test_one_round_trip_per_run() -> None:
    runs, client = counter(flush_after_s=60)
    calls: list[str] = []
    original = client.pipeline

    def counting_pipeline(*args: object, **kwargs: object) -> object:
        calls.append("pipeline")
        return original(*args, **kwargs)  # type: ignore[arg-type]

    client.pipeline = counting_pipeline  # type: ignore[method-assign]
    client.delete = lambda *keys: calls.append("delete")  # type: ignore[assignment,method-assign]
    for stage in ("classify", "route", "audit"):
        runs.started("t1", stage)
        runs.finished("t1", stage)
    assert calls == ["pipeline"] * 3
