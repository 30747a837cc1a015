"""How long Anthropic asks us to wait, from its response headers (pure).

https://docs.anthropic.com/en/api/rate-limits#response-headers: `retry-after` (seconds) on a
429, and `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-reset` (RFC 3339)
with the matching `-remaining` on every response.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping
from datetime import datetime

WINDOWS = ("requests", "tokens", "input-tokens", "output-tokens")


def _seconds(value: str) -> float | None:
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _until(moment: str, now: float) -> float | None:
    """Seconds from `now` until an RFC 3339 time (or an HTTP date); None if unreadable."""
    try:
        when = datetime.fromisoformat(moment.strip().replace("Z", "+00:00")).timestamp()
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(moment).timestamp()
        except (TypeError, ValueError):
            return None
    return max(0.0, when - now)


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """`retry-after-ms` or `retry-after` if sent; else the latest reset of an exhausted window
    (else of the requests window); None when the headers say nothing."""
    now = time.time() if now is None else now
    millis = headers.get("retry-after-ms")
    if millis and (wait := _seconds(millis)) is not None:
        return wait / 1000
    header = headers.get("retry-after")
    if header:
        wait = _seconds(header)
        if wait is None:
            wait = _until(header, now)
        if wait is not None:
            return wait
    resets: list[float] = []
    for window in WINDOWS:
        reset = headers.get(f"anthropic-ratelimit-{window}-reset")
        exhausted = headers.get(f"anthropic-ratelimit-{window}-remaining", "").strip() == "0"
        if reset and exhausted and (wait := _until(reset, now)) is not None:
            resets.append(wait)
    if resets:
        return max(resets)
    reset = headers.get("anthropic-ratelimit-requests-reset")
    return _until(reset, now) if reset else None
