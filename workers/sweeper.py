"""The sweeper task (run by Celery beat): re-enqueue tickets whose stage missed its deadline."""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from celery import Celery, shared_task
from celery import Task as CeleryTask

from pipeline.adapters.redis_client import redis_client
from pipeline.operations.sweeper import claim_overdue_tickets
from pipeline.settings import Settings
from workers.celery_app import services_for
from workers.chains import enqueue_after_commit

log = logging.getLogger("triage.sweeper")

LOCK_KEY = "triage:sweeper:lock"


@contextmanager
def sweeper_lock(settings: Settings, ttl_s: int) -> Iterator[bool]:
    """Hold the one-sweeper lock in Redis (always granted when there is no shared Redis)."""
    url = settings.shared_redis_url()
    if url is None:
        yield True
        return
    client = redis_client(url)
    token = f"{socket.gethostname()}:{uuid.uuid4()}"
    acquired = bool(client.set(LOCK_KEY, token, nx=True, ex=ttl_s))
    try:
        yield acquired
    finally:
        if acquired:
            # Release only our own lock: compare-and-delete in one atomic step.
            client.eval(
                "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
                "else return 0 end",
                1,
                LOCK_KEY,
                token,
            )


def sweep_overdue(app: Celery, *, limit: int = 500) -> int:
    """Claim overdue tickets and enqueue each from its pending stage; returns how many."""
    services = services_for(app)
    claimed = claim_overdue_tickets(
        services.store, sweep_after_s=services.settings.sweep_after, limit=limit
    )
    for ticket in claimed:
        enqueue_after_commit(app, ticket.ticket_id, start=ticket.stage, queue=ticket.queue)
    if claimed:
        log.info("requeued %d overdue tickets", len(claimed))
    return len(claimed)


@shared_task(bind=True, name="triage.sweep", ignore_result=True, acks_late=False)
def sweep(self: CeleryTask) -> str:
    """Beat's periodic sweep, guarded so only one runs at a time."""
    settings: Settings = self.app.triage_settings
    with sweeper_lock(settings, ttl_s=max(settings.sweep_interval * 2, 30)) as acquired:
        if not acquired:
            return "another sweeper holds the lock"
        return f"requeued {sweep_overdue(self.app)}"
