"""Baselines measured beside us in every run: tiny WSGI apps and Celery chains on the same stack.

What both minimal baselines share: a row like ours (same text columns, a uuid key, without our
indexes or the audit table) and one psycopg connection per thread, the simplest pool there is.
They read BENCH_DSN (libpq URL), BENCH_REDIS_URL / BENCH_BROKER_URL, BENCH_DEPARTMENT_URL.
"""

from __future__ import annotations

import os
import threading

import psycopg

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
_local = threading.local()


def thread_connection() -> psycopg.Connection[tuple[object, ...]]:
    """This thread's connection to BENCH_DSN, opened on first use."""
    conn: psycopg.Connection[tuple[object, ...]] | None = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg.connect(os.environ["BENCH_DSN"])
        _local.conn = conn
    return conn
