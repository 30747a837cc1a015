"""A locked-out address is told which limit it went over (logs and errors name the limit)."""

from __future__ import annotations

from pipeline.operations.api_keys import AuthThrottled
from pipeline.ports import RateLimitExceeded


def test_the_lockout_names_its_limit() -> None:
    exceeded = RateLimitExceeded(limit="3 per 1 minute", retry_after_s=42)
    throttled = AuthThrottled(exceeded)
    assert str(throttled) == "too many failed authentications (3 per 1 minute)"
    assert throttled.exceeded is exceeded
