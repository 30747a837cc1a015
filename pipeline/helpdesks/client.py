"""One helpdesk API call over httpx, with the answer mapped onto the delivery error family.

429 and 5xx retry, honouring `Retry-After` (seconds or an HTTP date) or, when the helpdesk says
its quota is used up (`x-ratelimit-remaining: 0`), `x-ratelimit-reset` (epoch seconds; GitHub,
Intercom). GitHub answers an exhausted primary rate limit with 403 or 429: both retry. Any other
4xx fails at once, with the helpdesk's own error body (bounded, our secrets masked).
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from pipeline.domain.writeback import HelpdeskRejected, HelpdeskUnavailable, bounded_body
from pipeline.ports import WritebackReceipt

RETRYABLE_STATUSES = frozenset({408, 425, 429})
# A helpdesk asking for more than this is an outage to wait out in the store, not a countdown.
MAX_WAIT_S = 3600.0


class HelpdeskClient:
    """A pooled httpx client for one helpdesk: base URL, auth and fixed headers."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        headers: dict[str, str],
        auth: tuple[str, str] | None = None,
        secrets: tuple[str, ...] = (),
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._secrets = secrets
        self._clock = clock
        self._client = httpx.Client(
            base_url=self.base_url,
            auth=auth,
            headers={"User-Agent": "ticket-triage", **headers},
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            follow_redirects=False,
        )

    def call(self, method: str, path: str, payload: dict[str, Any]) -> WritebackReceipt:
        """Send one JSON request; raise HelpdeskUnavailable (retry) or HelpdeskRejected."""
        started = time.perf_counter()
        where = f"{self.name} {method} {path}"
        try:
            response = self._client.request(
                method,
                path,
                content=json.dumps(payload).encode("utf-8"),
                headers={"Content-Type": "application/json"},
            )
        except httpx.TimeoutException as exc:
            raise HelpdeskUnavailable(f"{where} timed out") from exc
        except httpx.TransportError as exc:
            raise HelpdeskUnavailable(f"{where} unreachable: {type(exc).__name__}") from exc
        body = bounded_body(response.text, self._secrets) if response.content else None
        status = response.status_code
        if 200 <= status < 300:
            return WritebackReceipt(status, (time.perf_counter() - started) * 1000, body)
        said = f": {body[:300]}" if body else ""
        if status >= 500 or status in RETRYABLE_STATUSES or _quota_used_up(response):
            raise HelpdeskUnavailable(
                f"{where} answered {status}{said}",
                retry_after=self._wait(response),
                status=status,
                body=body,
            )
        raise HelpdeskRejected(
            f"{where} rejected the write with {status}{said}", status=status, body=body
        )

    def _wait(self, response: httpx.Response) -> float | None:
        """The wait the helpdesk asked for, in seconds (None: it did not say)."""
        wait = _retry_after(response.headers.get("retry-after"), self._clock)
        if wait is None and _quota_used_up(response):
            reset = response.headers.get("x-ratelimit-reset", "")
            if reset.isdigit():
                wait = max(0.0, int(reset) - self._clock())
        return None if wait is None else min(wait, MAX_WAIT_S)

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()


def _quota_used_up(response: httpx.Response) -> bool:
    return (
        response.status_code in (403, 429) and response.headers.get("x-ratelimit-remaining") == "0"
    )


def _retry_after(value: str | None, clock: Callable[[], float]) -> float | None:
    """`Retry-After` as seconds: a number, or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - clock())
