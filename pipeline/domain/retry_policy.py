"""The one retry policy: after a failed attempt, retry now, wait in the store, or give up.

A pure function of the error, the attempt, the limits the settings give, the retries so far
and a random source; every task base asks it (nothing else decides about retries).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from pipeline.domain.errors import PermanentError, TriageError

# 2**60 s is far past any cap: a bigger exponent would only risk an OverflowError.
MAX_EXPONENT = 60


@dataclass(frozen=True)
class RetryLimits:
    """What the settings allow one stage: retries, backoff cap, broker wait, time horizon."""

    max_retries: int
    backoff_max_s: float
    # Broker countdowns longer than this (half the visibility timeout) would let Redis hand
    # the waiting message to a second worker: such waits live in the store instead.
    defer_after_s: float
    # Give up once the ticket has been retrying this long (from its first failure), if set.
    horizon_s: float | None = None


@dataclass(frozen=True)
class RetryNow:
    """Retry through the broker after `countdown` seconds."""

    countdown: float
    # False for waits of our own making: the retry uses up none of the stage's retries.
    counts_as_attempt: bool = True


@dataclass(frozen=True)
class RetryLaterInStore:
    """Wait `delay` seconds as the ticket's `next_attempt_at` (the sweeper brings it back)."""

    delay: float
    counts_as_attempt: bool = True


class GiveUpReason(StrEnum):
    """Why a failure is final."""

    permanent = "permanent"  # retrying cannot help: fail the ticket at once
    exhausted = "exhausted"  # retries (or the time horizon) used up: a stage may fall back


@dataclass(frozen=True)
class GiveUp:
    """Stop retrying."""

    reason: GiveUpReason


RetryDecision = RetryNow | RetryLaterInStore | GiveUp


def counts_as_attempt(error: BaseException) -> bool:
    """Whether a failure uses up a retry (waits of our own making do not; unknown errors do)."""
    return error.counts_as_attempt if isinstance(error, TriageError) else True


def retry_after(error: BaseException) -> float | None:
    """The wait the error asks for (a server's Retry-After, a budget or breaker), if any."""
    return error.retry_after if isinstance(error, TriageError) else None


def retry_cap(error: BaseException, stage_max: int) -> int:
    """The retries this failure may have: the stage's, or fewer if its error family says so."""
    own = error.max_retries if isinstance(error, TriageError) else None
    return stage_max if own is None else min(stage_max, own)


def backs_off(error: BaseException) -> bool:
    """Whether a retry of this failure waits (exponential backoff) or goes at once."""
    return error.backs_off if isinstance(error, TriageError) else True


def backoff(retries: int, cap_s: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, 2**retries)]."""
    return rng.uniform(0.0, min(cap_s, 2.0 ** min(retries, MAX_EXPONENT)))


def decide_retry(
    error: BaseException,
    *,
    attempt: int,
    limits: RetryLimits,
    retries: int,
    rng: random.Random,
    retrying_for_s: float | None = None,
) -> RetryDecision:
    """What to do after `attempt` (1-based, waits not counted) failed with `error`.

    `retries` counts every reschedule so far (waits included; the backoff exponent);
    `retrying_for_s` is how long the ticket has been retrying, when the stage has a horizon.
    """
    if isinstance(error, PermanentError):
        return GiveUp(GiveUpReason.permanent)
    counted = counts_as_attempt(error)
    if counted:
        out_of_time = (
            limits.horizon_s is not None
            and retrying_for_s is not None
            and retrying_for_s > limits.horizon_s
        )
        if attempt > retry_cap(error, limits.max_retries) or out_of_time:
            return GiveUp(GiveUpReason.exhausted)
    jitter = backoff(retries, limits.backoff_max_s, rng) if backs_off(error) else 0.0
    wait = max(jitter, retry_after(error) or 0.0)
    if wait > limits.defer_after_s:
        return RetryLaterInStore(wait, counted)
    return RetryNow(wait, counted)
