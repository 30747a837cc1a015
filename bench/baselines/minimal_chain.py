"""Pipeline baseline (b): the minimal chain that does our work: one UPDATE per stage, one POST.

classify sleeps the LLM latency, then UPDATEs; route POSTs to the same stub department, then
UPDATEs; audit UPDATEs the final state with finished_at. Rows live in `bench_tickets` (see
`minimal_app.DDL`); connections are one psycopg connection per worker thread.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid

import httpx
import psycopg
from celery import chain

from bench.baselines.celery_base import baseline_app
from bench.baselines.minimal_app import INSERT

QUEUE = "bench_minimal"

app = baseline_app("bench_minimal", QUEUE)
_local = threading.local()
_http = httpx.Client(timeout=10)  # pooled keep-alive connections, like our department client


def _connection() -> psycopg.Connection[tuple[object, ...]]:
    conn: psycopg.Connection[tuple[object, ...]] | None = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg.connect(os.environ["BENCH_DSN"])
        _local.conn = conn
    return conn


def _update(sql: str, ticket_id: str) -> None:
    conn = _connection()
    conn.execute(sql, (ticket_id,))
    conn.commit()


@app.task(name="minimal.classify")
def classify(ticket_id: str, llm_s: float) -> None:
    """Wait as long as the LLM would, then record the decision."""
    time.sleep(llm_s)
    _update(
        "UPDATE bench_tickets SET status = 'classified', category = 'billing', updated_at = now()"
        " WHERE id = %s AND status = 'received'",
        ticket_id,
    )


@app.task(name="minimal.route")
def route(ticket_id: str) -> None:
    """Deliver to the stub department, then record the routing."""
    body = json.dumps({"id": ticket_id, "department": "finance"}).encode()
    response = _http.post(
        os.environ["BENCH_DEPARTMENT_URL"],
        content=body,
        headers={"Content-Type": "application/json", "Idempotency-Key": f"{ticket_id}:1"},
    )
    response.raise_for_status()
    _update(
        "UPDATE bench_tickets SET status = 'routed', department = 'finance', updated_at = now()"
        " WHERE id = %s AND status = 'classified'",
        ticket_id,
    )


@app.task(name="minimal.audit")
def audit(ticket_id: str) -> None:
    """Close the ticket."""
    _update(
        "UPDATE bench_tickets SET status = 'done', finished_at = now(), updated_at = now()"
        " WHERE id = %s AND status = 'routed'",
        ticket_id,
    )


def submit(conn: psycopg.Connection[tuple[object, ...]], index: int, llm_s: float) -> str:
    """Store one ticket (INSERT, COMMIT) and publish its chain, as a minimal ingest would."""
    ticket_id = str(uuid.uuid4())
    conn.execute(
        INSERT,
        (ticket_id, f"minimal-{index}", "Charged twice", f"Ticket {index}: charged twice", "c1"),
    )
    conn.commit()
    chain(classify.si(ticket_id, llm_s), route.si(ticket_id), audit.si(ticket_id)).apply_async(
        queue=QUEUE
    )
    return ticket_id
