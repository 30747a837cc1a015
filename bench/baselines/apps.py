"""Ingest baselines, served by gunicorn with our settings: `bare` and `minimal` (Flask apps).

- bare: Flask reads the body and answers 202, nothing else;
- minimal: the minimal equivalent of `POST /tickets`: parse the JSON, store a similar row in
  one transaction (psycopg BEGIN/INSERT/COMMIT), LPUSH the id onto a Redis list, answer 202.
  No auth, no validation model, no ORM, no Celery.
"""

from __future__ import annotations

import functools
import json
import os
import uuid

import redis
from flask import Flask, request

from bench.baselines import INSERT, thread_connection

QUEUE = "bench:minimal:ingest"

bare = Flask("bench_bare")
minimal = Flask("bench_minimal")


@functools.cache
def _redis() -> redis.Redis:
    """One client (and its connection pool) per server process, made on first use."""
    return redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])


@bare.post("/tickets")
def bare_accept() -> tuple[dict[str, str], int]:
    """Read the body (as every endpoint must) and answer 202 without doing anything."""
    request.get_data()
    return {"id": "bare", "status": "received"}, 202


@minimal.post("/tickets")
def minimal_accept() -> tuple[dict[str, str], int]:
    """Store the ticket (BEGIN, INSERT, COMMIT), push its id, answer 202."""
    body = request.get_json()
    ticket_id = str(uuid.uuid4())
    conn = thread_connection()
    row = (body.get("external_id"), body["subject"], body["description"], body["customer_id"])
    conn.execute(INSERT, (ticket_id, *row))
    conn.commit()
    _redis().lpush(QUEUE, json.dumps({"id": ticket_id}))
    return {"id": ticket_id, "status": "received"}, 202


@bare.get("/healthz")
@minimal.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness, for the bench's start-up wait."""
    return {"status": "ok"}
