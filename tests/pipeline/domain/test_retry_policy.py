"""The retry policy: each branch, full-jitter bounds, Retry-After, deferral to the store."""

from __future__ import annotations

import random

import pytest

from pipeline.domain.errors import (
    CircuitOpen,
    DeliveryRejected,
    LLMBadAnswer,
    LLMBudgetExhausted,
    LLMUnavailable,
    PoisonMessage,
)
from pipeline.domain.retry_policy import (
    GiveUp,
    GiveUpReason,
    RetryDecision,
    RetryLaterInStore,
    RetryLimits,
    RetryNow,
    backoff,
    backs_off,
    counts_as_attempt,
    decide_retry,
    retry_after,
    retry_cap,
)

LIMITS = RetryLimits(max_retries=3, backoff_max_s=300, defer_after_s=1800)


def decide(
    error: BaseException,
    attempt: int = 1,
    retries: int = 0,
    *,
    limits: RetryLimits = LIMITS,
    retrying_for_s: float | None = None,
) -> RetryDecision:
    return decide_retry(
        error,
        attempt=attempt,
        limits=limits,
        retries=retries,
        rng=random.Random(7),
        retrying_for_s=retrying_for_s,
    )


def test_a_transient_error_is_retried_now_with_backoff() -> None:
    decision = decide(LLMUnavailable("503"), attempt=1, retries=2)
    assert isinstance(decision, RetryNow)
    assert 0 <= decision.countdown <= 4 and decision.counts_as_attempt


@pytest.mark.parametrize("error", [DeliveryRejected("410"), PoisonMessage("died 6 times")])
def test_permanent_errors_are_never_retried(error: BaseException) -> None:
    assert decide(error, attempt=1) == GiveUp(GiveUpReason.permanent)


def test_retries_run_out_after_the_last_allowed_attempt() -> None:
    assert isinstance(decide(LLMUnavailable("503"), attempt=3, retries=2), RetryNow)
    assert decide(LLMUnavailable("503"), attempt=4, retries=3) == GiveUp(GiveUpReason.exhausted)


def test_unexpected_errors_are_retried_and_count() -> None:
    assert counts_as_attempt(ConnectionResetError()) and retry_after(KeyError()) is None
    assert decide(ConnectionResetError(), attempt=4) == GiveUp(GiveUpReason.exhausted)
    assert isinstance(decide(ConnectionResetError(), attempt=1), RetryNow)


@pytest.mark.parametrize(
    "error",
    [LLMBudgetExhausted("budget", retry_after=2.0), CircuitOpen("open", retry_after=2.0)],
)
def test_waits_of_our_own_making_never_use_up_retries(error: BaseException) -> None:
    decision = decide(error, attempt=99, retries=120)
    assert isinstance(decision, RetryNow) and not decision.counts_as_attempt
    assert decision.countdown >= 2.0


def test_a_retry_after_larger_than_the_backoff_is_honoured() -> None:
    decision = decide(LLMUnavailable("429", retry_after=90.0), attempt=1, retries=0)
    assert decision == RetryNow(90.0, True)


def test_the_backoff_wins_when_it_is_longer_than_retry_after() -> None:
    rng = random.Random(3)
    expected = max(backoff(8, 300, random.Random(3)), 0.5)
    decision = decide_retry(
        LLMUnavailable("503", retry_after=0.5), attempt=1, limits=LIMITS, retries=8, rng=rng
    )
    assert decision == RetryNow(expected, True)


def test_full_jitter_stays_within_zero_and_the_capped_exponential() -> None:
    rng = random.Random(12345)
    for retries in range(12):
        cap = min(300, 2**retries)
        samples = [backoff(retries, 300, rng) for _ in range(200)]
        assert all(0 <= s <= cap for s in samples)
        assert max(samples) > cap * 0.8 and min(samples) < cap * 0.2  # spread, not fixed
    assert backoff(10_000, 300, rng) <= 300  # no overflow for absurd retry counts


def test_the_same_seed_gives_the_same_waits() -> None:
    waits = [
        decide_retry(LLMUnavailable("x"), attempt=1, limits=LIMITS, retries=5, rng=rng)
        for rng in (random.Random(1), random.Random(1))
    ]
    assert waits[0] == waits[1]


def test_waits_longer_than_the_threshold_are_deferred_to_the_store() -> None:
    limits = RetryLimits(max_retries=3, backoff_max_s=300, defer_after_s=60)
    at_threshold = decide(LLMUnavailable("429", retry_after=60.0), limits=limits)
    assert at_threshold == RetryNow(60.0, True)
    past = decide(LLMUnavailable("429", retry_after=60.5), limits=limits)
    assert past == RetryLaterInStore(60.5, True)
    wait = decide(CircuitOpen("open", retry_after=600.0), limits=limits)
    assert wait == RetryLaterInStore(600.0, False)


def test_past_the_horizon_a_counted_failure_gives_up_but_a_wait_does_not() -> None:
    limits = RetryLimits(max_retries=100, backoff_max_s=300, defer_after_s=1800, horizon_s=60)
    assert isinstance(decide(LLMUnavailable("503"), limits=limits, retrying_for_s=59), RetryNow)
    late = decide(LLMUnavailable("503"), limits=limits, retrying_for_s=61)
    assert late == GiveUp(GiveUpReason.exhausted)
    assert isinstance(
        decide(CircuitOpen("open", retry_after=1), limits=limits, retrying_for_s=61), RetryNow
    )


def test_a_bad_answer_is_retried_once_at_once_then_given_up_for_the_fallback() -> None:
    first = decide(LLMBadAnswer("no usable category"), attempt=1, retries=9)
    assert first == RetryNow(0.0, True)  # no backoff, whatever the retries so far
    second = decide(LLMBadAnswer("no usable category"), attempt=2, retries=10)
    assert second == GiveUp(GiveUpReason.exhausted)  # exhausted: the classify task falls back


def test_a_bad_answer_never_gets_more_retries_than_the_stage_allows() -> None:
    none_left = RetryLimits(max_retries=0, backoff_max_s=300, defer_after_s=1800)
    assert decide(LLMBadAnswer("x"), limits=none_left) == GiveUp(GiveUpReason.exhausted)
    assert retry_cap(LLMBadAnswer("x"), 5) == 1 and retry_cap(LLMUnavailable("503"), 5) == 5
    assert retry_cap(KeyError(), 5) == 5


def test_only_the_error_family_decides_the_backoff() -> None:
    assert not backs_off(LLMBadAnswer("x"))
    assert backs_off(LLMUnavailable("503")) and backs_off(ConnectionResetError())
    # An outage keeps its full backoff and retries.
    assert isinstance(decide(LLMUnavailable("503"), attempt=2, retries=1), RetryNow)
