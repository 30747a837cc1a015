"""HTTP load for the ingest bench: wrk with a Lua script where installed, else a Python client.

Both keep `connections` keep-alive connections busy for a fixed time (closed loop), POST a valid
ticket with the API key and a unique external_id per request, and report req/s and latency
percentiles of the requests that completed.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.common import percentile

SUBJECT = "Charged twice for my order"
DESCRIPTION = "My card shows two identical charges for the same invoice this month, please refund."

LUA = r"""
local counter = 0
local threads = {}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "__KEY__"

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"external_id":"__NONCE__-%d-%d","subject":"__SUBJECT__ %d",' ..
    '"description":"__DESCRIPTION__ Ticket %d.","customer_id":"cus_%d"}',
    tid, counter, counter, counter, counter % 97)
  return wrk.format(nil, "__PATH__", nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
"""


@dataclass(frozen=True)
class LoadResult:
    """One load run: throughput of completed requests and their latency."""

    tool: str
    seconds: float
    requests: int
    errors: int  # non-2xx answers, socket errors and timeouts
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, rounded."""
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def tool_name() -> str:
    """Which load generator runs here."""
    return "wrk" if shutil.which("wrk") else "python-asyncio"


def run_load(
    base_url: str,
    *,
    seconds: float,
    api_key: str,
    nonce: str,
    connections: int = 32,
    threads: int = 2,
    path: str = "/tickets",
) -> LoadResult:
    """POST tickets to `base_url + path` for `seconds` on `connections` connections."""
    if shutil.which("wrk"):
        return _run_wrk(base_url, seconds, api_key, nonce, connections, threads, path)
    return asyncio.run(_run_python(base_url, seconds, api_key, nonce, connections, path))


def _run_wrk(
    base_url: str,
    seconds: float,
    api_key: str,
    nonce: str,
    connections: int,
    threads: int,
    path: str,
) -> LoadResult:
    script = (
        LUA.replace("__KEY__", api_key)
        .replace("__NONCE__", nonce)
        .replace("__SUBJECT__", SUBJECT)
        .replace("__DESCRIPTION__", DESCRIPTION)
        .replace("__PATH__", path)
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        completed = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                handle.name,
                base_url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
    finally:
        Path(handle.name).unlink(missing_ok=True)
    match = re.search(r"^BENCH_JSON (\{.*\})$", completed.stdout, re.MULTILINE)
    if completed.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr[-2000:]}")
    raw = json.loads(match.group(1))
    duration = raw["duration_us"] / 1e6
    errors = sum(raw[k] for k in ("connect", "read", "write", "status", "timeout"))
    return LoadResult(
        tool="wrk",
        seconds=duration,
        requests=raw["requests"],
        errors=errors,
        rps=raw["requests"] / duration if duration else 0.0,
        p50_ms=raw["p50"] / 1000,
        p90_ms=raw["p90"] / 1000,
        p99_ms=raw["p99"] / 1000,
        max_ms=raw["max"] / 1000,
        mean_ms=raw["mean"] / 1000,
    )


async def _run_python(
    base_url: str, seconds: float, api_key: str, nonce: str, connections: int, path: str
) -> LoadResult:
    """The fallback: asyncio keep-alive connections writing raw HTTP/1.1 (one core at most)."""
    host, port = base_url.removeprefix("http://").rstrip("/").split(":")
    latencies: list[float] = []
    errors = 0
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
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nX-API-Key: {api_key}\r\n"
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
    return LoadResult(
        tool="python-asyncio",
        seconds=duration,
        requests=len(ms),
        errors=errors,
        rps=len(ms) / duration if duration else 0.0,
        p50_ms=percentile(ms, 50),
        p90_ms=percentile(ms, 90),
        p99_ms=percentile(ms, 99),
        max_ms=max(ms, default=float("nan")),
        mean_ms=sum(ms) / len(ms) if ms else float("nan"),
    )
