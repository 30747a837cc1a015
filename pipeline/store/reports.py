"""Read-only figures in SQL: the status screen, the metrics gauges, training labels."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, select

from pipeline.domain.lifecycle import TicketStatus
from pipeline.domain.operator import ERASED, KnownLabel, StatusFigures
from pipeline.store.engine import Sessions
from pipeline.store.schema import AuditEventRow, TicketRow

TOP_FAILURES = 5


class SqlReports:
    """The ReportQueries on the tickets database."""

    def __init__(self, store: Sessions) -> None:
        self._store = store

    def status_figures(
        self,
        *,
        since: datetime,
        failures_since: datetime,
        pending: Sequence[TicketStatus],
        events: Sequence[str],
        events_limit: int,
    ) -> StatusFigures:
        """Counts by status since `since`, pending counts, top failures, recent events."""
        with self._store.read() as session:
            recent = session.execute(
                select(TicketRow.status, func.count())
                .where(TicketRow.updated_at >= since)
                .group_by(TicketRow.status)
            ).all()
            waiting = session.execute(
                select(TicketRow.status, func.count())
                .where(TicketRow.status.in_([s.value for s in pending]))
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
            statuses_since={str(k): int(v) for k, v in recent},
            pending={str(k): int(v) for k, v in waiting},
            top_failures=[(error, int(n)) for error, n in failures],
            recent_events=[(str(event), detail or {}) for event, detail in trail],
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
