"""Delivering a routed ticket to its department's HTTP endpoint, behind a small Protocol."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx

from pipeline.domain.errors import DeliveryRejected, DepartmentUnavailable
from pipeline.ports import DeliveryReceipt

# 408 and 429 are the department asking us to come back later, like a 5xx.
RETRYABLE_STATUSES = frozenset({408, 425, 429})


def classify_response(status_code: int, endpoint: str) -> None:
    """Raise the error family a department's non-2xx answer belongs to."""
    if 200 <= status_code < 300:
        return
    if status_code >= 500 or status_code in RETRYABLE_STATUSES:
        raise DepartmentUnavailable(f"department at {endpoint} answered {status_code}")
    raise DeliveryRejected(f"department at {endpoint} rejected the ticket with {status_code}")


class HttpDepartmentClient:
    """The real client: httpx with explicit timeouts and a pooled connection per endpoint."""

    def __init__(self, timeout_s: float) -> None:
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            follow_redirects=False,
            headers={"User-Agent": "ticket-triage"},
        )

    def deliver(self, endpoint: str, body: bytes, headers: dict[str, str]) -> DeliveryReceipt:
        """POST the body; transport errors and timeouts are transient."""
        started = time.perf_counter()
        try:
            response = self._client.post(
                endpoint, content=body, headers={"Content-Type": "application/json", **headers}
            )
        except httpx.TimeoutException as exc:
            raise DepartmentUnavailable(f"department at {endpoint} timed out") from exc
        except httpx.TransportError as exc:
            raise DepartmentUnavailable(
                f"department at {endpoint} unreachable: {type(exc).__name__}"
            ) from exc
        classify_response(response.status_code, endpoint)
        return DeliveryReceipt(response.status_code, (time.perf_counter() - started) * 1000)

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()


@dataclass
class RecordedDelivery:
    """One delivery the in-memory client received."""

    endpoint: str
    body: bytes
    headers: dict[str, str]


@dataclass
class InMemoryDepartmentClient:
    """For tests: records every delivery and answers with scripted status codes (default 200)."""

    responses: list[int] = field(default_factory=list)
    received: list[RecordedDelivery] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def deliver(self, endpoint: str, body: bytes, headers: dict[str, str]) -> DeliveryReceipt:
        """Record the delivery, then answer the next scripted status."""
        with self._lock:
            self.received.append(RecordedDelivery(endpoint, body, dict(headers)))
            status = self.responses.pop(0) if self.responses else 200
        classify_response(status, endpoint)
        return DeliveryReceipt(status, 0.0)
