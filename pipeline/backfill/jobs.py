"""Backfill jobs: a row per run with its counts, so a run can be followed and resumed."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select, update

from pipeline.domain.errors import TriageError
from pipeline.domain.lifecycle import FINAL_STATUSES
from pipeline.store.schema import BackfillJobRow, TicketRow, utcnow
from pipeline.store.tickets import TicketStore


class JobStatus(StrEnum):
    """Where a backfill run stands."""

    running = "running"  # reading and storing rows
    stored = "stored"  # every row read, stored (or skipped/rejected) and enqueued
    interrupted = "interrupted"  # stopped before the end; resume with --resume


class JobNotFound(TriageError):
    """No backfill job has this id."""


class BackfillJob(BaseModel):
    """A snapshot of one job."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: str
    source: str
    path: str
    options: dict[str, Any]
    status: str
    rows_read: int
    stored: int
    skipped: int
    rejected: int
    enqueued: int
    last_line: int


def create_job(store: TicketStore, source: str, path: str, options: dict[str, Any]) -> BackfillJob:
    """Open a new job row."""
    now = utcnow()
    row = BackfillJobRow(
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
        created_at=now,
        updated_at=now,
    )
    with store.transaction() as session:
        session.add(row)
    return BackfillJob.model_validate(row)


def get_job(store: TicketStore, job_id: str | None = None) -> BackfillJob:
    """A job by id, or the newest one."""
    with store.read() as session:
        query = select(BackfillJobRow)
        query = (
            query.where(BackfillJobRow.id == job_id)
            if job_id
            else query.order_by(BackfillJobRow.created_at.desc()).limit(1)
        )
        row = session.scalars(query).first()
        if row is None:
            raise JobNotFound(f"no backfill job {job_id}" if job_id else "no backfill job yet")
        return BackfillJob.model_validate(row)


def set_job_status(store: TicketStore, job_id: str, status: JobStatus) -> None:
    """Record where the job stands."""
    with store.transaction() as session:
        session.execute(
            update(BackfillJobRow)
            .where(BackfillJobRow.id == job_id)
            .values(status=status.value, updated_at=utcnow())
        )


def add_enqueued(store: TicketStore, job_id: str, count: int) -> None:
    """Count tickets published to the backfill queue."""
    with store.transaction() as session:
        session.execute(
            update(BackfillJobRow)
            .where(BackfillJobRow.id == job_id)
            .values(enqueued=BackfillJobRow.enqueued + count, updated_at=utcnow())
        )


def job_ticket_statuses(store: TicketStore, job_id: str) -> dict[str, int]:
    """How many of the job's tickets are in each status."""
    with store.read() as session:
        rows = session.execute(
            select(TicketRow.status, func.count())
            .where(TicketRow.job_id == job_id)
            .group_by(TicketRow.status)
        ).all()
    return {status: int(count) for status, count in rows}


def unfinished_count(statuses: dict[str, int]) -> int:
    """Tickets not yet in a final state."""
    return sum(n for s, n in statuses.items() if s not in FINAL_STATUSES)
