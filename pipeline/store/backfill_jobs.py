"""Backfill jobs in SQL: the job rows, and each batch's tickets stored with the job's counts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update

from pipeline.domain.operator import (
    BackfillJob,
    BatchProgress,
    JobStatus,
    NewTicket,
    StoredTickets,
)
from pipeline.store.engine import Sessions
from pipeline.store.intake import StoredBatch, new_ticket_row, store_new_tickets
from pipeline.store.schema import BackfillJobRow, TicketRow, utcnow


class SqlBackfill:
    """The BackfillRepository on the tickets database."""

    def __init__(self, store: Sessions) -> None:
        self._store = store

    def add_job(self, job: BackfillJob) -> None:
        """Store a new job row."""
        now = utcnow()
        with self._store.transaction() as session:
            session.add(BackfillJobRow(**job.model_dump(), created_at=now, updated_at=now))

    def job(self, job_id: str | None) -> BackfillJob | None:
        """A job by id, or the newest one when `job_id` is None."""
        query = select(BackfillJobRow)
        query = (
            query.where(BackfillJobRow.id == job_id)
            if job_id
            else query.order_by(BackfillJobRow.created_at.desc()).limit(1)
        )
        with self._store.read() as session:
            row = session.scalars(query).first()
            return None if row is None else BackfillJob.model_validate(row)

    def newest_with_tickets(self) -> BackfillJob | None:
        """The newest job that stored tickets (a re-run that only skipped holds none)."""
        query = (
            select(BackfillJobRow)
            .where(BackfillJobRow.stored > 0)
            .order_by(BackfillJobRow.created_at.desc())
            .limit(1)
        )
        with self._store.read() as session:
            row = session.scalars(query).first()
            return None if row is None else BackfillJob.model_validate(row)

    def set_status(self, job_id: str, status: JobStatus) -> None:
        """Record where the job stands."""
        with self._store.transaction() as session:
            session.execute(
                update(BackfillJobRow)
                .where(BackfillJobRow.id == job_id)
                .values(status=status.value, updated_at=utcnow())
            )

    def add_enqueued(self, job_id: str, count: int) -> None:
        """Count tickets published to the backfill queue."""
        with self._store.transaction() as session:
            session.execute(
                update(BackfillJobRow)
                .where(BackfillJobRow.id == job_id)
                .values(enqueued=BackfillJobRow.enqueued + count, updated_at=utcnow())
            )

    def ticket_statuses(self, job_id: str) -> dict[str, int]:
        """How many of the job's tickets are in each status."""
        with self._store.read() as session:
            rows = session.execute(
                select(TicketRow.status, func.count())
                .where(TicketRow.job_id == job_id)
                .group_by(TicketRow.status)
            ).all()
        return {status: int(count) for status, count in rows}

    def store_tickets(
        self,
        tickets: Sequence[NewTicket],
        detail: dict[str, Any],
        progress: BatchProgress | None = None,
    ) -> StoredTickets:
        """One transaction: insert the new tickets with `received` events, advance the job.

        Repeats (same source and idempotency key) are skipped and answered with the stored id.
        """
        rows = [_row(ticket) for ticket in tickets]
        with self._store.transaction() as session:
            stored = store_new_tickets(session, rows, [detail] * len(rows))
            if progress is not None:
                created = len(stored.new_ids)
                session.execute(
                    update(BackfillJobRow)
                    .where(BackfillJobRow.id == progress.job_id)
                    .values(
                        rows_read=BackfillJobRow.rows_read + progress.rows_read,
                        stored=BackfillJobRow.stored + created,
                        skipped=BackfillJobRow.skipped + len(rows) - created,
                        rejected=BackfillJobRow.rejected + progress.rejected,
                        last_line=progress.last_line,
                        updated_at=utcnow(),
                    )
                )
        return _outcome(rows, stored)


def _row(ticket: NewTicket) -> dict[str, Any]:
    return new_ticket_row(
        ticket.submission,
        source=ticket.source,
        idempotency_key=ticket.idempotency_key,
        payload_hash=ticket.payload_hash,
        queue=ticket.queue,
        now=utcnow(),
        deliver=ticket.deliver,
        job_id=ticket.job_id,
        connector=ticket.connector,
    )


def _outcome(rows: list[dict[str, Any]], stored: StoredBatch) -> StoredTickets:
    ids: list[str | None] = []
    created: list[bool] = []
    conflicts: list[bool] = []
    for row in rows:
        new = row["id"] in stored.new_ids
        earlier = None if new else stored.earlier(row)
        ids.append(row["id"] if new else (earlier[0] if earlier else None))
        created.append(new)
        conflicts.append(earlier is not None and earlier[1] != row["payload_hash"])
    return StoredTickets(ids, created, conflicts)
