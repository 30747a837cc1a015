"""Ingest bench: POST /tickets under gunicorn, ours against a bare endpoint and a minimal one.

All three run under the same gunicorn settings (gthread, WORKERS x THREADS) on the same
PostgreSQL and Redis, and get the same load (wrk -t2 -c32, a valid ticket with the API key and a
unique external_id per request). Rounds are interleaved (ours, minimal, bare, ours, ...) so that
other work on the machine hits every system alike; each system's figures are its median round.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
import redis

from bench import loadgen, profiling
from bench.common import (
    API_KEY_PEPPER,
    HOST,
    PYTHON,
    free_ports,
    product_env,
    ratio,
    redis_url,
    say,
    sqlalchemy_url,
)
from bench.machine import load_average
from bench.processes import Service, cpu_seconds, quit_all, start_service, wait_http

# `triage api`'s defaults, which also measured best here (see BENCHMARKS.md); env overrides
# make a sweep easy: BENCH_API_WORKERS=4 BENCH_API_THREADS=4 python -m bench ingest.
WORKERS = int(os.environ.get("BENCH_API_WORKERS", "2"))
THREADS = int(os.environ.get("BENCH_API_THREADS", "8"))
CONNECTIONS, LOAD_THREADS = 32, 2
SYSTEMS = ("ours", "minimal", "bare")


def gunicorn_argv(app: str, port: int, control_socket: Path) -> list[str]:
    """gunicorn with exactly the options `triage api` gives its GunicornServer."""
    return [
        PYTHON, "-m", "gunicorn", app,
        f"--bind={HOST}:{port}", f"--workers={WORKERS}", f"--threads={THREADS}",
        "--worker-class=gthread", "--graceful-timeout=30", "--timeout=60",
        f"--control-socket={control_socket}",
    ]  # fmt: skip


def start_servers(dsn: str, log_dir: Path, stack: ExitStack) -> dict[str, tuple[Service, str]]:
    """Start the three servers side by side (they start in parallel; idle ones cost nothing)."""
    ports = dict(zip(SYSTEMS, free_ports(len(SYSTEMS)), strict=True))
    metrics_dir = tempfile.mkdtemp(prefix="metrics-api-", dir=log_dir)
    ours_env = product_env(dsn, PROMETHEUS_MULTIPROC_DIR=metrics_dir)
    baseline_env = {"BENCH_DSN": dsn, "BENCH_REDIS_URL": redis_url()}
    argv = {
        "ours": [
            PYTHON, "-m", "triage_cli", "api", f"--bind={HOST}:{ports['ours']}",
            f"--workers={WORKERS}", f"--threads={THREADS}",
        ],
        "minimal": gunicorn_argv(
            "bench.baselines.minimal_app:app", ports["minimal"], log_dir / "minimal.ctl"
        ),
        "bare": gunicorn_argv("bench.baselines.bare_app:app", ports["bare"], log_dir / "bare.ctl"),
    }  # fmt: skip
    servers: dict[str, tuple[Service, str]] = {}
    for name in SYSTEMS:
        env = ours_env if name == "ours" else baseline_env
        service = start_service(f"api-{name}", argv[name], env, log_dir)
        servers[name] = (service, f"http://{HOST}:{ports[name]}")
    # Nothing is in flight once the runs are over: a quick shutdown, all three at once.
    stack.callback(quit_all, [service for service, _ in servers.values()])
    for name, (service, url) in servers.items():
        wait_http(f"{url}/healthz", service, timeout=120)
        # Another process could have taken the port: only our own gunicorn says it listens there.
        if f"Listening at: {url} " not in service.tail(20_000):
            raise RuntimeError(f"{name} is not the server listening at {url}:\n{service.tail()}")
    return servers


def prepare_database(dsn: str) -> str:
    """Migrate our schema, create the minimal baseline's table, mint a producer key."""
    from pydantic import SecretStr

    from bench.baselines.minimal_app import DDL
    from pipeline.operations.api_keys import Role, create_key
    from pipeline.settings import Settings
    from pipeline.wiring import open_store

    settings = Settings(
        database_url=sqlalchemy_url(dsn),
        broker_url=redis_url(),
        api_key_pepper=SecretStr(API_KEY_PEPPER),
    )
    store = open_store(settings)
    try:
        key = create_key(store, API_KEY_PEPPER.encode(), "bench-producer", Role.producer, "bench")
    finally:
        store.engine.dispose()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(DDL)
    return key


def trim_queues() -> None:
    """Drop what the runs published (nobody consumes here) so Redis stays small."""
    from bench.baselines.minimal_app import QUEUE

    client = redis.Redis.from_url(redis_url())
    client.delete("live", "backfill", QUEUE)
    client.close()


def measure(name: str, service: Service, url: str, key: str, seconds: float) -> dict[str, Any]:
    """One load run against one server, with its workers' CPU per request."""
    pids = service.pids()
    cpu_before = cpu_seconds(pids)
    result = loadgen.run_load(
        url,
        seconds=seconds,
        api_key=key,
        nonce=uuid.uuid4().hex[:10],
        connections=CONNECTIONS,
        threads=LOAD_THREADS,
    ).as_dict()
    cpu = cpu_seconds(pids) - cpu_before
    result["server_cpu_ms_per_request"] = (
        round(cpu * 1000 / result["requests"], 3) if result["requests"] else None
    )
    result["load_average"] = load_average()
    if result["errors"]:
        say(f"ingest {name}: {result['errors']} errors (see {service.log})")
    return result


def median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median throughput: its figures belong together."""
    ordered = sorted(rounds, key=lambda r: r["rps"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["rps_all_rounds"] = [r["rps"] for r in rounds]
    chosen["p99_ms_all_rounds"] = [r["p99_ms"] for r in rounds]
    chosen["rps_spread_pct"] = (
        round(100 * (max(chosen["rps_all_rounds"]) - min(chosen["rps_all_rounds"]))
              / statistics.median(chosen["rps_all_rounds"]), 1)
        if len(rounds) > 1 else 0.0
    )  # fmt: skip
    return chosen


def run_ingest(quick: bool, log_dir: Path, dsn: str, profile: bool = False) -> dict[str, Any]:
    """Start the three servers, warm them, run interleaved rounds, compute ratios."""
    seconds = 1.0 if quick else 8.0
    rounds = 1 if quick else 3
    key = prepare_database(dsn)
    with ExitStack() as stack:
        say("ingest: starting ours, minimal and bare under gunicorn "
            f"({WORKERS} workers x {THREADS} threads)")  # fmt: skip
        servers = start_servers(dsn, log_dir, stack)
        say("ingest: warm-up, all three at once (pools, caches, lazy imports)")
        with ThreadPoolExecutor(len(servers)) as pool:
            warm = [
                pool.submit(loadgen.run_load, url, seconds=0.5 if quick else 3, api_key=key,
                            nonce=f"warm-{name}", connections=8)
                for name, (_, url) in servers.items()
            ]  # fmt: skip
            for future in warm:
                future.result()
        trim_queues()
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in SYSTEMS}
        for round_no in range(rounds):
            for name in SYSTEMS:
                service, url = servers[name]
                result = measure(name, service, url, key, seconds)
                runs[name].append(result)
                say(
                    f"ingest {name} round {round_no + 1}/{rounds}: {result['rps']:.0f} req/s "
                    f"p50 {result['p50_ms']:.1f} ms p99 {result['p99_ms']:.1f} ms"
                )
                trim_queues()
        results = {name: median_round(r) for name, r in runs.items()}
        profile_summary = None
        if profile:
            service, url = servers["ours"]
            profile_summary = profile_ours(service, url, key, log_dir, seconds=max(seconds, 8))
    ours, minimal, bare = results["ours"], results["minimal"], results["bare"]
    ratios = {
        "rps_vs_bare": ratio(ours["rps"], bare["rps"]),
        "rps_vs_minimal": ratio(ours["rps"], minimal["rps"]),
        "p50_vs_bare": ratio(ours["p50_ms"], bare["p50_ms"]),
        "p50_vs_minimal": ratio(ours["p50_ms"], minimal["p50_ms"]),
        "p99_vs_bare": ratio(ours["p99_ms"], bare["p99_ms"]),
        "p99_vs_minimal": ratio(ours["p99_ms"], minimal["p99_ms"]),
        "cpu_per_request_vs_minimal": ratio(
            ours["server_cpu_ms_per_request"], minimal["server_cpu_ms_per_request"]
        ),
    }
    out: dict[str, Any] = {
        "settings": {
            "gunicorn": f"{WORKERS} workers x {THREADS} threads (gthread), same for all three",
            "load": f"{_load_tool(ours['tool'])}, {CONNECTIONS} connections, "
            f"{seconds:.0f} s per round, {rounds} interleaved round(s), median round reported",
            "body": "valid ticket JSON, X-API-Key, unique external_id per request",
        },
        "results": results,
        "ratios": ratios,
        "targets": {
            "rps_vs_minimal_min": 1.0,
            "p99_vs_minimal_max": 1.5,
            "met": (ratios["rps_vs_minimal"] or 0) >= 1.0
            and (ratios["p99_vs_minimal"] or 99) <= 1.5,
        },
    }
    if profile_summary is not None:
        out["profile"] = profile_summary
    return out


def _load_tool(tool: str) -> str:
    """How the load was made, for the report."""
    return f"wrk -t{LOAD_THREADS}" if tool == "wrk" else "Python asyncio client (1 thread)"


def profile_ours(
    service: Service, url: str, key: str, log_dir: Path, seconds: float
) -> dict[str, Any] | None:
    """An extra load run with py-spy on each of our gunicorn workers (not a measured run)."""
    workers = [pid for pid in service.pids() if pid != service.pid]
    say(f"ingest ours: profiling {len(workers)} gunicorn workers with py-spy for {seconds:.0f} s")
    recordings = [
        profiling.start_recording(pid, seconds, log_dir / f"py-spy-ingest-{pid}.txt")
        for pid in workers
    ]
    loadgen.run_load(url, seconds=seconds + 1, api_key=key, nonce="profile")
    trim_queues()
    paths = [r.path for r in recordings if r is not None and r.wait(30)]
    if not paths:
        say("ingest: py-spy unavailable or failed; no profile")
        return None
    summary = profiling.summarise(paths)
    summary["raw"] = [str(p) for p in paths]
    return summary
