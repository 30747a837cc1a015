"""The retry horizon's boundary: retrying exactly as long as allowed may retry once more."""

from __future__ import annotations

import random

from pipeline.domain.errors import DepartmentUnavailable
from pipeline.domain.retry_policy import GiveUp, RetryLimits, RetryNow, decide_retry

LIMITS = RetryLimits(max_retries=100, backoff_max_s=1, defer_after_s=1800, horizon_s=60)


def test_at_the_horizon_it_retries_past_it_it_gives_up() -> None:
    error = DepartmentUnavailable("503")
    at = decide_retry(
        error, attempt=3, limits=LIMITS, retries=2, rng=random.Random(1), retrying_for_s=60.0
    )
    assert isinstance(at, RetryNow)
    past = decide_retry(
        error, attempt=3, limits=LIMITS, retries=2, rng=random.Random(1), retrying_for_s=60.01
    )
    assert isinstance(past, GiveUp)
