"""Ingest baseline (b): Flask + one INSERT and commit (psycopg) + one Redis LPUSH, nothing else.

The minimal equivalent of `POST /tickets`: parse the JSON, store a similar row in one
transaction, push the id onto a Redis list, answer 202. No auth, no validation model, no ORM,
no Celery. Configured by BENCH_DSN (libpq URL) and BENCH_REDIS_URL.
"""

from __future__ import annotations

import json
import os
import threading
import uuid

import psycopg
import redis
from flask import Flask, request

# A row like ours (same text columns, a uuid key), without our indexes or the audit table.
DDL = """
CREATE TABLE IF NOT EXISTS bench_tickets (
    id uuid PRIMARY KEY,
    external_id text,
    subject text NOT NULL,
    description text NOT NULL,
    customer_id text NOT NULL,
    status text NOT NULL,
    category text,
    department text,
    received_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    finished_at timestamptz
)
"""
INSERT = (
    "INSERT INTO bench_tickets (id, external_id, subject, description, customer_id, status,"
    " received_at, updated_at) VALUES (%s, %s, %s, %s, %s, 'received', now(), now())"
)
QUEUE = "bench:minimal:ingest"

app = Flask("bench_minimal")
_local = threading.local()
_redis: redis.Redis | None = None


def _redis_client() -> redis.Redis:
    """One client (and its connection pool) per server process, made on first use."""
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    return _redis


def _connection() -> psycopg.Connection[tuple[object, ...]]:
    """One connection per server thread: the simplest pool there is."""
    conn: psycopg.Connection[tuple[object, ...]] | None = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg.connect(os.environ["BENCH_DSN"])
        _local.conn = conn
    return conn


@app.post("/tickets")
def accept() -> tuple[dict[str, str], int]:
    """Store the ticket (BEGIN, INSERT, COMMIT), push its id, answer 202."""
    body = request.get_json()
    ticket_id = str(uuid.uuid4())
    conn = _connection()
    conn.execute(
        INSERT,
        (
            ticket_id,
            body.get("external_id"),
            body["subject"],
            body["description"],
            body["customer_id"],
        ),
    )
    conn.commit()
    _redis_client().lpush(QUEUE, json.dumps({"id": ticket_id}))
    return {"id": ticket_id, "status": "received"}, 202


@app.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness, for the bench's start-up wait."""
    return {"status": "ok"}
