"""HTTP load for the ingest bench: a closed loop of keep-alive connections on asyncio, raw HTTP/1.1.

`connections` connections stay busy for a fixed time, each POSTing a valid ticket with the API
key and a unique external_id per request; the result is req/s and latency percentiles of the
requests that completed (one thread: the load generator takes at most one core).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

from bench.common import percentile

SUBJECT = "Charged twice for my order"
DESCRIPTION = "My card shows two identical charges for the same invoice this month, please refund."
TOOL = "Python asyncio client (1 thread)"


def run_load(
    base_url: str, *, seconds: float, api_key: str, nonce: str, connections: int = 32
) -> dict[str, Any]:
    """POST tickets to `base_url`/tickets for `seconds` on `connections` connections."""
    return asyncio.run(_run(base_url, seconds, api_key, nonce, connections))


async def _run(
    base_url: str, seconds: float, api_key: str, nonce: str, connections: int
) -> dict[str, Any]:
    host, port = base_url.removeprefix("http://").rstrip("/").split(":")
    latencies: list[float] = []
    errors = 0  # non-2xx answers, socket errors
    deadline = time.perf_counter() + seconds

    def request_bytes(worker: int, counter: int) -> bytes:
        body = json.dumps(
            {
                "external_id": f"{nonce}-{worker}-{counter}",
                "subject": f"{SUBJECT} {counter}",
                "description": f"{DESCRIPTION} Ticket {counter}.",
                "customer_id": f"cus_{counter % 97}",
            }
        ).encode()
        head = (
            f"POST /tickets HTTP/1.1\r\nHost: {host}:{port}\r\nX-API-Key: {api_key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    async def connection(worker: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        counter = 0
        try:
            while time.perf_counter() < deadline:
                counter += 1
                started = time.perf_counter()
                writer.write(request_bytes(worker, counter))
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = re.search(rb"(?i)content-length:\s*(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                if 200 <= status < 300:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1
                if re.search(rb"(?i)connection:\s*close", head):
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, int(port))
        except (OSError, asyncio.IncompleteReadError):
            errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection(i) for i in range(connections)))
    duration = time.perf_counter() - started
    ms = [x * 1000 for x in latencies]
    figures = {
        "rps": len(ms) / duration if duration else 0.0,
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms, default=float("nan")),
        "mean_ms": sum(ms) / len(ms) if ms else float("nan"),
    }
    return {
        "tool": "python-asyncio",
        "seconds": round(duration, 3),
        "requests": len(ms),
        "errors": errors,
        **{k: round(v, 3) for k, v in figures.items()},
    }
