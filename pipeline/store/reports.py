"""Read-only figures in SQL: the status screen, the metrics gauges, training labels."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, select

from pipeline.domain.lifecycle import FINAL_STATUSES, TicketStatus
from pipeline.domain.operator import (
    ERASED,
    KnownLabel,
    RetryGroup,
    RetryingFigures,
    StatusFigures,
)
from pipeline.store.engine import Sessions
from pipeline.store.schema import AuditEventRow, TicketRow

TOP_FAILURES = 5
FINAL = [s.value for s in FINAL_STATUSES]


class SqlReports:
    """The ReportQueries on the tickets database."""

    def __init__(self, store: Sessions) -> None:
        self._store = store

    def status_figures(
        self,
        *,
        since: datetime,
        failures_since: datetime,
        events: Sequence[str],
        events_limit: int,
    ) -> StatusFigures:
        """Tickets by current status, received/finished since `since`, failures, events."""
        with self._store.read() as session:
            current = session.execute(
                select(TicketRow.status, func.count()).group_by(TicketRow.status)
            ).all()
            received = session.scalar(
                select(func.count()).select_from(TicketRow).where(TicketRow.received_at >= since)
            )
            finished = session.execute(
                select(TicketRow.status, func.count())
                .where(
                    TicketRow.status.in_(FINAL),
                    # Failing sets no finished_at: a failed ticket's last update is its failure.
                    or_(
                        TicketRow.finished_at >= since,
                        (TicketRow.status == TicketStatus.failed.value)
                        & (TicketRow.updated_at >= since),
                    ),
                )
                .group_by(TicketRow.status)
            ).all()
            failures = session.execute(
                select(TicketRow.last_error, func.count())
                .where(
                    TicketRow.status == TicketStatus.failed.value,
                    TicketRow.updated_at >= failures_since,
                )
                .group_by(TicketRow.last_error)
                .order_by(func.count().desc())
                .limit(TOP_FAILURES)
            ).all()
            trail = session.execute(
                select(AuditEventRow.event, AuditEventRow.detail)
                .where(AuditEventRow.created_at >= since, AuditEventRow.event.in_(list(events)))
                .order_by(AuditEventRow.id.desc())
                .limit(events_limit)
            ).all()
        return StatusFigures(
            statuses={str(k): int(v) for k, v in current},
            received_since=int(received or 0),
            finished_since={str(k): int(v) for k, v in finished},
            top_failures=[(error, int(n)) for error, n in failures],
            recent_events=[(str(event), detail or {}) for event, detail in trail],
        )

    def retrying(self, *, limit: int) -> RetryingFigures:
        """Tickets not final whose current stage failed, in the `limit` largest error groups."""
        # retrying_since marks the current stage's first failure and is cleared when the
        # ticket moves on; last_error alone outlives the retry it describes.
        waiting = (
            TicketRow.status.not_in(FINAL),
            or_(TicketRow.retrying_since.is_not(None), TicketRow.next_attempt_at.is_not(None)),
        )
        with self._store.read() as session:
            total = session.scalar(select(func.count()).select_from(TicketRow).where(*waiting))
            groups = session.execute(
                select(
                    TicketRow.last_error,
                    func.count(),
                    func.min(TicketRow.next_attempt_at),
                    func.min(TicketRow.retrying_since),
                    func.min(TicketRow.id),
                )
                .where(*waiting)
                .group_by(TicketRow.last_error)
                .order_by(func.count().desc(), func.min(TicketRow.retrying_since))
                .limit(limit)
            ).all()
        return RetryingFigures(
            total=int(total or 0),
            groups=[
                RetryGroup(error, int(n), next_at, since, str(example))
                for error, n, next_at, since, example in groups
            ],
        )

    def state_counts(self, pending: Sequence[TicketStatus], since: datetime) -> dict[str, int]:
        """Tickets by status: every pending one, and the others updated since `since`."""
        query = (
            select(TicketRow.status, func.count())
            .where(
                or_(TicketRow.status.in_([s.value for s in pending]), TicketRow.updated_at >= since)
            )
            .group_by(TicketRow.status)
        )
        with self._store.read() as session:
            return {str(status): int(count) for status, count in session.execute(query).all()}

    def known_labels(self, limit: int) -> list[KnownLabel]:
        """Tickets with a known category and their text still present, oldest first."""
        with self._store.read() as session:
            rows = session.execute(
                select(
                    TicketRow.subject,
                    TicketRow.description,
                    TicketRow.known_category,
                    TicketRow.urgency,
                )
                .where(TicketRow.known_category.is_not(None), TicketRow.description != ERASED)
                .order_by(TicketRow.received_at)
                .limit(limit)
            ).all()
        return [
            KnownLabel(subject or "", description, str(category), urgency)
            for subject, description, category, urgency in rows
        ]
