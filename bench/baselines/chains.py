"""Pipeline baselines: Celery chains on our broker, pool and delivery contract, nothing more.

- bare (`celery -A bench.baselines.chains:bare`): three no-op tasks; the last appends
  "<sent> <done>" (epoch seconds) to a Redis list, the only way to see that a chain ended;
- minimal (`-A bench.baselines.chains:minimal`): the minimal chain doing our work: classify
  sleeps the LLM latency then UPDATEs, route POSTs to the same stub department then UPDATEs,
  audit UPDATEs the final state with finished_at (rows in `bench_tickets`).
"""

from __future__ import annotations

import functools
import json
import os
import time
import uuid

import httpx
import psycopg
import redis
from celery import Celery, chain

from bench.baselines import INSERT, thread_connection

BARE_QUEUE, MINIMAL_QUEUE = "bench_bare", "bench_minimal"
DONE_KEY = "bench:bare:done"


def baseline_app(name: str, queue: str) -> Celery:
    """A Celery app on BENCH_BROKER_URL with our at-least-once settings, without our extras."""
    app = Celery(name, set_as_current=False)
    app.conf.update(
        broker_url=os.environ["BENCH_BROKER_URL"],
        broker_connection_retry_on_startup=True,
        # The same delivery contract as ours (acks after the task, one message per thread at a
        # time, no results), so the comparison measures work, not a weaker guarantee.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=queue,
        worker_hijack_root_logger=False,
    )
    return app


bare = baseline_app("bench_bare", BARE_QUEUE)
minimal = baseline_app("bench_minimal", MINIMAL_QUEUE)


@functools.cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(os.environ["BENCH_BROKER_URL"])


@functools.cache
def _http() -> httpx.Client:
    return httpx.Client(timeout=10)  # pooled keep-alive connections, like our department client


@bare.task(name="bare.one")
def one(ticket_id: str) -> None:
    """Nothing."""


@bare.task(name="bare.two")
def two(ticket_id: str) -> None:
    """Nothing."""


@bare.task(name="bare.three")
def three(ticket_id: str, sent_at: float) -> None:
    """Mark the chain done."""
    _redis().rpush(DONE_KEY, f"{sent_at} {time.time()}")


def submit_bare(token: str) -> None:
    """Publish one bare chain (id-only messages, like ours)."""
    chain(one.si(token), two.si(token), three.si(token, time.time())).apply_async(queue=BARE_QUEUE)


def _move(ticket_id: str, to: str, sets: str, source: str) -> None:
    """One guarded UPDATE and its commit: a stage's whole record."""
    conn = thread_connection()
    conn.execute(
        f"UPDATE bench_tickets SET status = '{to}', {sets}, updated_at = now()"
        f" WHERE id = %s AND status = '{source}'",
        (ticket_id,),
    )
    conn.commit()


@minimal.task(name="minimal.classify")
def classify(ticket_id: str, llm_s: float) -> None:
    """Wait as long as the LLM would, then record the decision."""
    time.sleep(llm_s)
    _move(ticket_id, "classified", "category = 'billing'", "received")


@minimal.task(name="minimal.route")
def route(ticket_id: str) -> None:
    """Deliver to the stub department, then record the routing."""
    response = _http().post(
        os.environ["BENCH_DEPARTMENT_URL"],
        content=json.dumps({"id": ticket_id, "department": "finance"}).encode(),
        headers={"Content-Type": "application/json", "Idempotency-Key": f"{ticket_id}:1"},
    )
    response.raise_for_status()
    _move(ticket_id, "routed", "department = 'finance'", "classified")


@minimal.task(name="minimal.audit")
def audit(ticket_id: str) -> None:
    """Close the ticket."""
    _move(ticket_id, "done", "finished_at = now()", "routed")


def submit_minimal(conn: psycopg.Connection[tuple[object, ...]], index: int, llm_s: float) -> str:
    """Store one ticket (INSERT, COMMIT) and publish its chain, as a minimal ingest would."""
    ticket_id = str(uuid.uuid4())
    row = (f"minimal-{index}", "Charged twice", f"Ticket {index}: charged twice", "c1")
    conn.execute(INSERT, (ticket_id, *row))
    conn.commit()
    chain(classify.si(ticket_id, llm_s), route.si(ticket_id), audit.si(ticket_id)).apply_async(
        queue=MINIMAL_QUEUE
    )
    return ticket_id
