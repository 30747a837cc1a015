"""Ingest bench: POST /tickets under granian, ours against a bare endpoint and a minimal one.

All three run under the same granian settings (WSGI, WORKERS x THREADS) on the same
PostgreSQL and Redis, and get the same load (`run_load`: a closed loop of 32 keep-alive
connections on asyncio, raw HTTP/1.1, one thread; a valid ticket with the API key and a unique
external_id per request). Rounds are interleaved (ours, minimal,
bare, ours, ...) so that other work on the machine hits every system alike; each system's
figures are its median round.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
import redis

from bench import profiling
from bench.common import (
    API_KEY_PEPPER,
    HOST,
    PYTHON,
    free_ports,
    load_average,
    percentile,
    product_env,
    ratio,
    redis_url,
    say,
    sqlalchemy_url,
)
from bench.processes import Service, cpu_seconds, quit_all, start_service, wait_http
from triage_cli.servers import HEADER_READ_TIMEOUT_MS

# `triage api`'s defaults, which also measured best here (see BENCHMARKS.md); env overrides
# make a sweep easy: BENCH_API_WORKERS=4 BENCH_API_THREADS=4 python -m bench ingest.
WORKERS = int(os.environ.get("BENCH_API_WORKERS", "2"))
THREADS = int(os.environ.get("BENCH_API_THREADS", "8"))
CONNECTIONS = 32

SYSTEMS = ("ours", "minimal", "bare")


SUBJECT = "Charged twice for my order"
DESCRIPTION = "My card shows two identical charges for the same invoice this month, please refund."
TOOL = "Python asyncio client (1 thread)"


def run_load(url: str, seconds: float, key: str, nonce: str, connections: int = 32) -> Any:
    """POST tickets to `url`/tickets for `seconds` on `connections` connections: req/s, latency."""
    return asyncio.run(load(url, seconds, key, nonce, connections))


async def load(url: str, seconds: float, api_key: str, nonce: str, connections: int) -> Any:
    """The load loop of `run_load`."""
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    latencies: list[float] = []
    errors = 0  # non-2xx answers, socket errors
    deadline = time.perf_counter() + seconds

    def request_bytes(worker: int, counter: int) -> bytes:
        ticket = {"external_id": f"{nonce}-{worker}-{counter}", "subject": f"{SUBJECT} {counter}"}
        ticket |= {
            "description": f"{DESCRIPTION} Ticket {counter}.",
            "customer_id": f"cus_{counter % 97}",
        }
        body = json.dumps(ticket).encode()
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


def start_servers(dsn: str, log_dir: Path, stack: ExitStack) -> dict[str, tuple[Service, str]]:
    """Start the three servers side by side (they start in parallel; idle ones cost nothing)."""
    ports = dict(zip(SYSTEMS, free_ports(len(SYSTEMS)), strict=True))
    servers: dict[str, tuple[Service, str]] = {}
    for name in SYSTEMS:
        bind, sizes = (
            f"--bind={HOST}:{ports[name]}",
            [f"--workers={WORKERS}", f"--threads={THREADS}"],
        )
        if name == "ours":
            metrics = tempfile.mkdtemp(prefix="metrics-api-", dir=log_dir)
            env = product_env(dsn, PROMETHEUS_MULTIPROC_DIR=metrics)
            argv = [PYTHON, "-m", "triage_cli", "api", bind, *sizes]
        else:  # exactly the server settings `triage api` gives granian (triage_cli/servers.py)
            env = {"BENCH_DSN": dsn, "BENCH_REDIS_URL": redis_url()}
            argv = [PYTHON, "-m", "granian", "--interface=wsgi", "--http=1", f"--host={HOST}"]
            argv += [f"--port={ports[name]}", f"--workers={WORKERS}"]
            argv += [f"--blocking-threads={THREADS}"]
            argv += [f"--http1-header-read-timeout={HEADER_READ_TIMEOUT_MS}"]
            argv += [f"bench.baselines.apps:{name}"]
        service = start_service(f"api-{name}", argv, env, log_dir)
        servers[name] = (service, f"http://{HOST}:{ports[name]}")
    # Nothing is in flight once the runs are over: a quick shutdown, all three at once.
    stack.callback(quit_all, [service for service, _ in servers.values()])
    for name, (service, url) in servers.items():
        wait_http(f"{url}/healthz", service, timeout=120)
        # Another process could have taken the port: only our own server says it listens there.
        if f"Listening at: {url}\n" not in service.tail(20_000):
            raise RuntimeError(f"{name} is not the server listening at {url}:\n{service.tail()}")
    return servers


def prepare_database(dsn: str) -> str:
    """Migrate our schema, create the minimal baseline's table, mint a producer key."""
    from pydantic import SecretStr

    from bench.baselines import DDL
    from pipeline.domain.operator import Role
    from pipeline.operations.api_keys import create_key
    from pipeline.settings import Settings
    from pipeline.wiring import open_store

    pepper = SecretStr(API_KEY_PEPPER)
    store = open_store(
        Settings(database_url=sqlalchemy_url(dsn), broker_url=redis_url(), api_key_pepper=pepper)
    )
    try:
        key = create_key(store, API_KEY_PEPPER.encode(), "bench-producer", Role.producer, "bench")
    finally:
        store.engine.dispose()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(DDL)
    return key


def trim_queues() -> None:
    """Drop what the runs published (nobody consumes here) so Redis stays small."""
    from bench.baselines.apps import QUEUE

    client = redis.Redis.from_url(redis_url())
    client.delete("live", "backfill", QUEUE)
    client.close()


def measure(name: str, service: Service, url: str, key: str, seconds: float) -> dict[str, Any]:
    """One load run against one server, with its workers' CPU per request."""
    pids = service.pids()
    cpu_before = cpu_seconds(pids)
    nonce = uuid.uuid4().hex[:10]
    result = run_load(url, seconds, key, nonce, CONNECTIONS)
    cpu = cpu_seconds(pids) - cpu_before
    requests = result["requests"]
    result["server_cpu_ms_per_request"] = round(cpu * 1000 / requests, 3) if requests else None
    result["load_average"] = load_average()
    if result["errors"]:
        say(f"ingest {name}: {result['errors']} errors (see {service.log})")
    return result


def median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median throughput: its figures belong together."""
    chosen = dict(sorted(rounds, key=lambda r: r["rps"])[(len(rounds) - 1) // 2])
    rps = chosen["rps_all_rounds"] = [r["rps"] for r in rounds]
    chosen["p99_ms_all_rounds"] = [r["p99_ms"] for r in rounds]
    spread = 100 * (max(rps) - min(rps)) / statistics.median(rps) if len(rounds) > 1 else 0.0
    chosen["rps_spread_pct"] = round(spread, 1)
    return chosen


def run_ingest(quick: bool, log_dir: Path, dsn: str, profile: bool = False) -> dict[str, Any]:
    """Start the three servers, warm them, run interleaved rounds, compute ratios."""
    seconds, rounds = (1.0, 1) if quick else (8.0, 3)
    key = prepare_database(dsn)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in SYSTEMS}
    out: dict[str, Any] = {}
    with ExitStack() as stack:
        say(f"ingest: starting ours, minimal and bare under granian ({WORKERS} x {THREADS})")
        servers = start_servers(dsn, log_dir, stack)
        say("ingest: warm-up, all three at once (pools, caches, lazy imports)")
        with ThreadPoolExecutor(len(servers)) as pool:
            warm_s = 0.5 if quick else 3
            warm = [
                pool.submit(run_load, url, warm_s, key, f"warm-{name}", 8)
                for name, (_, url) in servers.items()
            ]
            for future in warm:
                future.result()
        trim_queues()
        for round_no in range(rounds):
            for name in SYSTEMS:
                r = measure(name, *servers[name], key, seconds)
                runs[name].append(r)
                say(
                    f"ingest {name} round {round_no + 1}/{rounds}: {r['rps']:.0f} req/s "
                    f"p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms"
                )
                trim_queues()
        if profile:  # an extra load run with py-spy on each server worker (not measured)
            service, url = servers["ours"]
            length = max(seconds, 8)
            say(f"ingest ours: profiling its server workers with py-spy for {length:.0f} s")
            workers = [pid for pid in service.pids() if pid != service.pid]
            recordings = profiling.record(workers, length, log_dir, "ingest")
            run_load(url, length + 1, key, "profile", CONNECTIONS)
            trim_queues()
            if (summary := profiling.collect(recordings, 30, "ingest")) is not None:
                out["profile"] = summary
    results = {name: median_round(r) for name, r in runs.items()}
    ours, cpu = results["ours"], "server_cpu_ms_per_request"
    ratios = {
        f"{figure}_vs_{name}": ratio(ours[field], results[name][field])
        for figure, field in (("rps", "rps"), ("p50", "p50_ms"), ("p99", "p99_ms"))
        for name in ("bare", "minimal")
    }
    ratios["cpu_per_request_vs_minimal"] = ratio(ours[cpu], results["minimal"][cpu])
    met = (ratios["rps_vs_minimal"] or 0) >= 1.0 and (ratios["p99_vs_minimal"] or 99) <= 1.5
    settings = {
        "gunicorn": f"granian, {WORKERS} workers x {THREADS} threads (WSGI), same for all three",
        "load": f"{TOOL}, {CONNECTIONS} connections, {seconds:.0f} s per round, "
        f"{rounds} interleaved round(s), median round reported",
        "body": "valid ticket JSON, X-API-Key, unique external_id per request",
    }
    targets = {"rps_vs_minimal_min": 1.0, "p99_vs_minimal_max": 1.5, "met": met}
    return {"settings": settings, "results": results, "ratios": ratios, "targets": targets, **out}
