"""Backfill jobs: a row per run with its counts, so a run can be followed and resumed."""

from __future__ import annotations

import uuid
from typing import Any

from pipeline.domain.lifecycle import FINAL_STATUSES
from pipeline.domain.operator import BackfillJob, JobNotFound, JobStatus
from pipeline.ports import OperatorStores


def create_job(
    store: OperatorStores, source: str, path: str, options: dict[str, Any]
) -> BackfillJob:
    """Open a new job row."""
    job = BackfillJob(
        id=str(uuid.uuid4()),
        source=source,
        path=path,
        options=options,
        status=JobStatus.running.value,
        rows_read=0,
        stored=0,
        skipped=0,
        rejected=0,
        enqueued=0,
        last_line=0,
    )
    store.backfill.add_job(job)
    return job


def get_job(store: OperatorStores, job_id: str | None = None) -> BackfillJob:
    """A job by id, or the newest one."""
    job = store.backfill.job(job_id)
    if job is None:
        raise JobNotFound(f"no backfill job {job_id}" if job_id else "no backfill job yet")
    return job


def job_holding_tickets(store: OperatorStores) -> BackfillJob | None:
    """The newest job that stored tickets: a re-run that only skipped rows holds none."""
    return store.backfill.newest_with_tickets()


def set_job_status(store: OperatorStores, job_id: str, status: JobStatus) -> None:
    """Record where the job stands."""
    store.backfill.set_status(job_id, status)


def add_enqueued(store: OperatorStores, job_id: str, count: int) -> None:
    """Count tickets published to the backfill queue."""
    store.backfill.add_enqueued(job_id, count)


def job_ticket_statuses(store: OperatorStores, job_id: str) -> dict[str, int]:
    """How many of the job's tickets are in each status."""
    return store.backfill.ticket_statuses(job_id)


def unfinished_count(statuses: dict[str, int]) -> int:
    """Tickets not yet in a final state."""
    return sum(n for s, n in statuses.items() if s not in FINAL_STATUSES)
