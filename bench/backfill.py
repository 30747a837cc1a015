"""Live-ticket latency while a backfill runs, against the same live load on an idle pipeline.

Target (backfill issue): live p95 during a backfill <= 1.3 x idle p95 + 50 ms. Two workers as
in production: one on `live`, one on `backfill` alone; the local classifier (CPU-bound: the
hardest case for sharing a 2-core machine); departments are a stub on the loopback.
"""

from __future__ import annotations

import csv
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import redis

from bench.common import (
    PYTHON,
    Service,
    percentile,
    product_env,
    say,
    sqlalchemy_url,
    start_service,
    wait_until,
)

FINAL = ("done", "needs_review", "failed")
# A Redis database of its own: the other benches flush theirs.
BROKER_URL = "redis://127.0.0.1:6379/6"


def _live_rows(count: int, nonce: str) -> list[dict[str, str]]:
    return [
        {
            "external_id": f"live-{nonce}-{i}",
            "subject": "Where is my parcel?",
            "description": f"Order {i} has not arrived and tracking is stuck.",
            "customer_id": f"cus_{i % 50}",
        }
        for i in range(count)
    ]


def _write_backfill_file(path: Path, rows: int) -> None:
    subjects = ["Charged twice", "Parcel late", "App crashes", "Cannot log in", "Refund please"]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ticket_no", "title", "body", "client", "opened_at"])
        for i in range(rows):
            subject = subjects[i % len(subjects)]
            writer.writerow(
                [
                    f"H-{i}",
                    subject,
                    f"{subject}: historical ticket number {i}.",
                    f"cus_{i % 300}",
                    "2024-03-01T09:00:00Z",
                ]
            )


class LivePipeline:
    """Submits live tickets in this process (store + publish, as the API does) and times them."""

    def __init__(self, dsn: str, env: dict[str, str]) -> None:
        from pipeline.services import open_store
        from pipeline.settings import Settings
        from workers.celery_app import create_celery_app

        settings = Settings(
            database_url=sqlalchemy_url(dsn),
            broker_url=env["TRIAGE_BROKER_URL"],
            api_key_pepper=env["TRIAGE_API_KEY_PEPPER"],
            classifier="local",
        )
        self.store = open_store(settings)
        self.app = create_celery_app(settings)
        self.db = psycopg.connect(dsn, autocommit=True)

    def paced(self, rate: float, count: int, nonce: str) -> dict[str, Any]:
        """Submit `count` live tickets at `rate`/s and wait for them; latency ingest→final."""
        from pipeline.models import TicketSubmission, payload_fingerprint
        from workers.chains import enqueue_after_commit

        ids: list[str] = []
        started = time.monotonic()
        for i, body in enumerate(_live_rows(count, nonce)):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            ticket = self.store.accept(
                TicketSubmission.model_validate(body),
                source="bench",
                idempotency_key=body["external_id"],
                payload_hash=payload_fingerprint(body),
            ).ticket
            enqueue_after_commit(self.app, ticket.id)
            ids.append(ticket.id)

        def finished() -> bool:
            row = self.db.execute(
                "SELECT count(*) FROM tickets WHERE id = ANY(%s) AND status = ANY(%s)",
                (ids, list(FINAL)),
            ).fetchone()
            return bool(row and row[0] == len(ids))

        wait_until(finished, 120 + count, "live tickets to finish")
        rows = self.db.execute(
            "SELECT EXTRACT(EPOCH FROM finished_at - received_at) FROM tickets WHERE id = ANY(%s)",
            (ids,),
        ).fetchall()
        latencies = [float(r[0]) * 1000 for r in rows]
        return {
            "tickets": count,
            "rate_per_s": rate,
            "p50_ms": round(percentile(latencies, 50), 1),
            "p95_ms": round(percentile(latencies, 95), 1),
        }

    def backfill_done(self) -> tuple[int, int]:
        """(final, total) backfill tickets so far."""
        row = self.db.execute(
            "SELECT count(*) FILTER (WHERE status = ANY(%s)), count(*) FROM tickets "
            "WHERE queue = 'backfill'",
            (list(FINAL),),
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def close(self) -> None:
        """Release connections."""
        self.db.close()
        self.store.engine.dispose()


def run_backfill_latency(dsn: str, log_dir: Path, *, quick: bool) -> dict[str, Any]:
    """Idle live latency, then live latency while a backfill loads and classifies."""
    rate, live_count = (10.0, 60) if quick else (10.0, 300)
    backfill_rows = 2000 if quick else 20000
    env = product_env(dsn, TRIAGE_CLASSIFIER="local", TRIAGE_BROKER_URL=BROKER_URL)
    redis.Redis.from_url(BROKER_URL).flushdb()
    worker = [PYTHON, "-m", "triage_cli", "worker", "--pool", "threads", "--metrics-port", "0"]
    services: list[Service] = [
        start_service(
            "worker-live", [*worker, "--queues", "live", "--concurrency", "8"], env, log_dir
        ),
        # Historical work yields the CPU to live work: the backfill worker and loader run at a
        # lower scheduling priority (compose gives worker-backfill a smaller CPU share too).
        start_service(
            "worker-backfill",
            ["nice", "-n", "15", *worker, "--queues", "backfill", "--concurrency", "4"],
            env,
            log_dir,
        ),
    ]
    live = LivePipeline(dsn, env)
    try:
        say("backfill bench: warming up the workers")
        live.paced(rate, 20, "warm")
        say(f"backfill bench: idle live latency ({live_count} tickets at {rate:.0f}/s)")
        idle = live.paced(rate, live_count, "idle")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "history.csv"
            _write_backfill_file(path, backfill_rows)
            loader = start_service(
                "backfill-cli",
                [
                    "nice",
                    "-n",
                    "15",
                    PYTHON,
                    "-m",
                    "triage_cli",
                    "backfill",
                    str(path),
                    "--map",
                    "external_id=ticket_no,subject=title,description=body,customer_id=client,"
                    "created_at=opened_at",
                ],
                env,
                log_dir,
            )
            services.append(loader)
            loaded_at = time.monotonic()
            wait_until(
                lambda: live.backfill_done()[1] >= backfill_rows // 10,
                120,
                "the backfill to be under way",
            )
            say(f"backfill bench: live latency during a {backfill_rows}-row backfill")
            during: dict[str, Any] = {}
            runner = threading.Thread(
                target=lambda: during.update(live.paced(rate, live_count, "during"))
            )
            runner.start()
            runner.join()
            progress = live.backfill_done()
            wait_until(
                lambda: live.backfill_done()[0] >= backfill_rows,
                60 + backfill_rows / 20,
                "the backfill to finish",
            )
            backfill_s = time.monotonic() - loaded_at
    finally:
        live.close()
        for service in services:
            service.stop()
    target = 1.3 * idle["p95_ms"] + 50
    return {
        "idle": idle,
        "during_backfill": during,
        "backfill_rows": backfill_rows,
        "backfill_final_when_live_run_ended": progress[0],
        "backfill_seconds": round(backfill_s, 1),
        "backfill_tickets_per_s": round(backfill_rows / backfill_s, 1),
        "target_p95_ms": round(target, 1),
        "meets_target": during.get("p95_ms", float("inf")) <= target,
    }


if __name__ == "__main__":  # a direct run: python -m bench.backfill
    import json
    import sys

    from bench.common import postgres_database, redis_database

    with postgres_database("backfill") as dsn, redis_database():
        out = Path(tempfile.mkdtemp(prefix="bench-backfill-"))
        print(json.dumps(run_backfill_latency(dsn, out, quick="--quick" in sys.argv), indent=2))
