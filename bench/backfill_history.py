"""Backfill throughput: `triage backfill FILE --wait` with one `triage worker --queues backfill`.

Target (issue 21): a 100,000-row CSV stored, classified by the local model and audited (no
write-back) at >= 1,000 tickets/s end to end on this machine, worker memory flat. The file is
made from the bundled samples, each row's text made unique (the decision cache never hits).
`python -m bench.backfill_history --rows 20000` runs this part alone.
"""

from __future__ import annotations

import argparse
import csv
import json
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench import profiling
from bench.common import (
    PYTHON,
    ROOT,
    Stubs,
    postgres_database,
    redis_database,
    say,
    wait_until,
)
from bench.processes import Service, cpu_seconds, quit_all, rss_mb, start_service
from bench.systems import FINAL, our_env

TARGET_TICKETS_PER_S = 1000.0
SAMPLES = ROOT / "pipeline" / "data" / "sample_tickets.jsonl"
FIELDS = ("external_id", "subject", "description", "customer_id", "priority", "created_at")


def write_history_file(path: Path, rows: int) -> None:
    """A CSV of `rows` tickets: the bundled samples, varied so that every text is unique."""
    samples = [json.loads(line) for line in SAMPLES.read_text(encoding="utf-8").splitlines()]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIELDS)
        for i in range(rows):
            sample = samples[i % len(samples)]
            writer.writerow(
                [
                    f"HIST-{i}",
                    sample["subject"],
                    f"{sample['description']}\n(ref {i})",
                    sample.get("customer_id") or f"cus_{i % 300}",
                    sample.get("priority") or "normal",
                    sample.get("created_at") or "2024-03-01T09:00:00Z",
                ]
            )


def job_counts(db: Any) -> tuple[int, int]:
    """(final, stored) backfill tickets."""
    sql = "SELECT count(*) FILTER (WHERE status = ANY(%s)), count(*) FROM tickets"
    row = db.execute(sql + " WHERE queue = 'backfill'", (list(FINAL),)).fetchone()
    return int(row[0]), int(row[1])


def worker_command(dsn: str, stubs: Stubs, log_dir: Path, *options: str, **extra: str) -> list[Any]:
    """`triage worker --queues backfill` (its defaults, or `options`), the local classifier."""
    argv = [PYTHON, "-m", "triage_cli", "worker", "--queues", "backfill", "--metrics-port", "0"]
    argv += list(options)
    env = our_env(dsn, stubs, log_dir, "worker-history", TRIAGE_CLASSIFIER="local", **extra)
    return [argv, env]


class HistoryRun:
    """`triage backfill FILE --wait` beside a running backfill worker, sampled in a thread."""

    def __init__(
        self,
        dsn: str,
        env: dict[str, str],
        log_dir: Path,
        rows: int,
        *,
        worker: Service,
        timeout_s: float,
        prefix: list[str] | None = None,
    ) -> None:
        self.dsn, self.env, self.log_dir, self.rows = dsn, env, log_dir, rows
        self.worker, self.timeout_s, self.prefix = worker, timeout_s, prefix or []
        self.path = log_dir / f"history-{rows}.csv"
        self.timeline: list[tuple[float, int, int]] = []
        self.stored_s: float | None = None
        self.error: BaseException | None = None
        self.rss_tenth: float | None = None
        write_history_file(self.path, rows)

    def start(self) -> HistoryRun:
        """Start the loader and the sampler."""
        self.rss_start = rss_mb(self.worker.pids())
        self.cpu_start = cpu_seconds(self.worker.pids())
        self.started = time.monotonic()
        argv = [*self.prefix, PYTHON, "-m", "triage_cli", "backfill", str(self.path), "--wait"]
        self.loader = start_service("backfill-history-cli", argv, self.env, self.log_dir)
        self.thread = threading.Thread(target=self._sample, name="history-sampler", daemon=True)
        self.thread.start()
        return self

    def stored(self) -> int:
        """Rows stored so far."""
        return self.timeline[-1][1] if self.timeline else 0

    def _sample(self) -> None:
        import psycopg

        try:
            with psycopg.connect(self.dsn, autocommit=True) as db:
                while True:
                    elapsed = time.monotonic() - self.started
                    final, stored = job_counts(db)
                    self.timeline.append((round(elapsed, 1), stored, final))
                    if self.stored_s is None and stored >= self.rows:
                        self.stored_s = elapsed
                    if self.rss_tenth is None and final >= self.rows // 10:
                        self.rss_tenth = rss_mb(self.worker.pids())
                    if self.loader.process.poll() is not None or elapsed > self.timeout_s:
                        break
                    time.sleep(0.5)
                self.final = job_counts(db)[0]
        except BaseException as error:  # reported by finish()
            self.error = error

    def finish(self) -> dict[str, Any]:
        """Wait for the loader (or the timeout); the run's figures."""
        self.thread.join(self.timeout_s + 60)
        total_s = time.monotonic() - self.started
        self.worker.check()
        code = self.loader.process.poll()
        quit_all([self.loader])
        if self.error is not None:
            raise self.error
        rss_end = rss_mb(self.worker.pids())
        cpu_s = cpu_seconds(self.worker.pids()) - self.cpu_start
        self.path.unlink()
        final, stored_s, rows = self.final, self.stored_s, self.rows
        # A tenth in, the model and pools are loaded: memory is flat if it stays there.
        early = next((t for t in self.timeline if t[2] >= rows // 10), None)
        return {
            "rows": rows,
            "final": final,
            "cli_exit": code,
            "seconds_to_stored": round(stored_s, 1) if stored_s else None,
            "seconds_to_final": round(total_s, 1),
            "rows_per_s_stored": round(rows / stored_s, 1) if stored_s else None,
            "tickets_per_s_final": round(final / total_s, 1) if total_s > 0 else None,
            "llm_requests_per_ticket": 0.0,  # the local model: no LLM request at all
            "worker_cpu_ms_per_ticket": round(cpu_s * 1000 / final, 3) if final else None,
            "worker_rss_mb": {
                "start": round(self.rss_start, 1),
                "tenth_final": round(self.rss_tenth, 1) if self.rss_tenth else None,
                "end": round(rss_end, 1),
            },
            "seconds_to_tenth_final": early[0] if early else None,
            "timeline": self.timeline[:: max(1, len(self.timeline) // 40)],
            "met": final >= rows and code == 0 and final / total_s >= TARGET_TICKETS_PER_S,
        }


def main() -> None:
    """Run the throughput part alone on a fresh database."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--profile", type=float, default=0.0, help="py-spy seconds")
    parser.add_argument("--group-size", type=int, default=None, help="TRIAGE_BACKFILL_GROUP_SIZE")
    parser.add_argument("--pool", default=None, help="the worker's --pool (default: its own)")
    parser.add_argument("--concurrency", type=int, default=None, help="the worker's --concurrency")
    args = parser.parse_args()
    log_dir = ROOT / "bench" / "out" / "run-history"
    log_dir.mkdir(parents=True, exist_ok=True)
    for old in [*log_dir.glob("*.log"), *log_dir.glob("py-spy-*.txt")]:
        old.unlink()  # logs are appended to: an old "ready." must not count
    with ExitStack() as stack:
        dsn = stack.enter_context(postgres_database("history"))
        stack.enter_context(redis_database())
        stubs = Stubs(stack, log_dir)
        from bench.common import sqlalchemy_url
        from pipeline.settings import Settings
        from pipeline.wiring import open_store

        open_store(Settings(database_url=sqlalchemy_url(dsn))).engine.dispose()  # migrate
        group = {"TRIAGE_BACKFILL_GROUP_SIZE": str(args.group_size)} if args.group_size else {}
        options = [*(["--pool", args.pool] if args.pool else [])]
        options += ["--concurrency", str(args.concurrency)] if args.concurrency else []
        argv, env = worker_command(dsn, stubs, log_dir, *options)
        worker = start_service("worker-history", argv, env, log_dir)
        stack.callback(quit_all, [worker])
        worker.wait_log(" ready.", 120)
        say(f"history: {args.rows:,} rows")
        loader_env = our_env(dsn, stubs, log_dir, "backfill-history", TRIAGE_CLASSIFIER="local")
        run = HistoryRun(
            dsn, {**loader_env, **group}, log_dir, args.rows, worker=worker, timeout_s=args.timeout
        ).start()
        recordings: list[Any] = []
        if args.profile:
            wait_until(lambda: run.stored() > 0, 60, "the first rows")
            pids = [*worker.pids(), run.loader.pid]
            recordings = profiling.record(pids, args.profile, log_dir, "history")
        figures = run.finish()
        figures["profile"] = profiling.collect(recordings, 60, "history") if recordings else None
    figures.pop("timeline")
    profile = figures.pop("profile") or {}
    print(json.dumps(figures, indent=2))
    for pid_path in profile.get("raw", []):
        summary = profiling.summarise([Path(pid_path)])
        print(pid_path, json.dumps(summary.get("inclusive_top_pct"), indent=0))


if __name__ == "__main__":
    main()
