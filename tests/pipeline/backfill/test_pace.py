"""The backfill pace: a token bucket of tickets per second, counted on a fake clock."""

from __future__ import annotations

import pytest

from pipeline.backfill.pace import YIELD_STEP_S, BackfillPace, TokenBucket


def test_reservations_queue_up_at_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(100, clock=lambda: now[0])  # a burst of 100

    waits = [bucket.reserve(100) for _ in range(5)]  # 500 tickets asked for at once

    assert waits == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_tokens_come_back_with_time_up_to_the_burst() -> None:
    now = [0.0]
    bucket = TokenBucket(50, burst=100, clock=lambda: now[0])
    assert bucket.reserve(100) == 0.0
    now[0] = 1.0  # 50 tokens back
    assert bucket.reserve(100) == 1.0
    now[0] = 100.0  # long idle: never more than the burst
    assert bucket.reserve(150) == 1.0


def test_no_cap_never_waits_and_a_cap_sleeps_what_the_bucket_says() -> None:
    slept: list[float] = []
    assert BackfillPace(0, sleep=slept.append).wait_for(10_000) == 0.0
    assert slept == []
    pace = BackfillPace(200, clock=lambda: 0.0, sleep=slept.append)
    for _ in range(4):
        pace.wait_for(100)
    # 400 tickets at 200/s with a 200-ticket burst: the last two groups wait 0.5 s and 1 s.
    assert slept == [0.5, 1.0]


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0)


def test_a_group_yields_while_live_tickets_are_under_way_and_no_longer_than_allowed() -> None:
    slept: list[float] = []
    under_way = iter([4, 2, 0, 9])
    pace = BackfillPace(0, live_work=lambda: next(under_way), max_yield_s=5, sleep=slept.append)

    assert pace.wait_for(100) == 2 * YIELD_STEP_S  # two looks saw live tickets under way
    assert slept == [YIELD_STEP_S, YIELD_STEP_S]

    stuck = BackfillPace(0, live_work=lambda: 50, max_yield_s=1.0, sleep=slept.append)
    slept.clear()
    assert stuck.wait_for(100) == 1.0  # live work that never ends cannot stop history
    assert len(slept) == round(1.0 / YIELD_STEP_S)


def test_a_step_between_backfill_work_yields_as_a_group_start_does() -> None:
    slept: list[float] = []
    under_way = iter([1, 1, 1, 0])
    pace = BackfillPace(0, live_work=lambda: next(under_way), max_yield_s=5, sleep=slept.append)
    pace.yield_to_live()
    assert slept == [YIELD_STEP_S] * 3


def test_a_store_that_cannot_say_lets_history_go_on() -> None:
    def away() -> int:
        raise ConnectionError("store away")

    slept: list[float] = []
    assert BackfillPace(0, live_work=away, max_yield_s=5, sleep=slept.append).wait_for(10) == 0.0
    assert slept == []


def test_without_a_yield_time_live_work_is_never_asked() -> None:
    def never() -> int:
        raise AssertionError("asked")

    assert BackfillPace(0, live_work=never, max_yield_s=0).wait_for(100) == 0.0
