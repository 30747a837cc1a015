"""Read-only figures in SQL: the status screen, the metrics gauges, training labels."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select

from pipeline.domain.lifecycle import FINAL_STATUSES, TicketStatus
from pipeline.domain.models import TicketRecord
from pipeline.domain.operator import (
    ERASED,
    KnownLabel,
    RetryGroup,
    RetryingFigures,
    StatusFigures,
)
from pipeline.domain.review import ReceivedTicket, TicketSearch, TrailEvent
from pipeline.store.engine import Sessions
from pipeline.store.schema import AuditEventRow, TicketRow

TOP_FAILURES = 5
FINAL = [s.value for s in FINAL_STATUSES]
SPEND_EVENT = "classified"  # the event whose detail carries each decision's LLM call and cost


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

    # --- the review console ------------------------------------------------------------------

    def search_tickets(
        self,
        search: TicketSearch,
        *,
        after_id: str | None = None,
        limit: int = 50,
        oldest_first: bool = False,
    ) -> list[TicketRecord]:
        """Tickets matching `search` by (received_at, id), after the cursor ticket `after_id`."""
        order = (TicketRow.received_at, TicketRow.id)
        query = select(TicketRow).where(*_search_filters(search)).limit(limit)
        query = query.order_by(*(order if oldest_first else (c.desc() for c in order)))
        with self._store.read() as session:
            anchor = session.get(TicketRow, after_id) if after_id else None
            if anchor is not None:
                at, anchor_id = anchor.received_at, anchor.id
                if oldest_first:
                    after = (TicketRow.received_at > at) | (
                        (TicketRow.received_at == at) & (TicketRow.id > anchor_id)
                    )
                else:
                    after = (TicketRow.received_at < at) | (
                        (TicketRow.received_at == at) & (TicketRow.id < anchor_id)
                    )
                query = query.where(after)
            return [TicketRecord.model_validate(r) for r in session.scalars(query)]

    def trail_events(
        self, events: Sequence[str], *, since: datetime, limit: int
    ) -> list[TrailEvent]:
        """Audit events of these kinds since `since`, newest first, at most `limit`."""
        query = (
            select(
                AuditEventRow.ticket_id,
                AuditEventRow.event,
                AuditEventRow.detail,
                AuditEventRow.created_at,
            )
            .where(AuditEventRow.created_at >= since, AuditEventRow.event.in_(list(events)))
            .order_by(AuditEventRow.id.desc())
            .limit(limit)
        )
        with self._store.read() as session:
            rows = session.execute(query).all()
        return [TrailEvent(str(t), str(e), d or {}, at) for t, e, d, at in rows]

    def received_tickets(self, *, since: datetime, limit: int) -> list[ReceivedTicket]:
        """Arrival time and current category of tickets received since `since`."""
        query = (
            select(TicketRow.received_at, TicketRow.category)
            .where(TicketRow.received_at >= since)
            .order_by(TicketRow.received_at.desc())
            .limit(limit)
        )
        with self._store.read() as session:
            return [ReceivedTicket(at, category) for at, category in session.execute(query)]

    def llm_spend_since(self, since: datetime) -> float:
        """USD the audited LLM calls since `since` cost (calls of unknown price count 0)."""
        # The call's fields sit at the top of the detail, or under `llm_call` in a cascade;
        # JSON paths render as ->> / #>> on PostgreSQL and JSON_EXTRACT on SQLite.
        detail = AuditEventRow.detail
        cost = func.coalesce(
            detail["cost_usd"].as_float(), detail[("llm_call", "cost_usd")].as_float(), 0.0
        )
        query = select(func.coalesce(func.sum(cost), 0.0)).where(
            AuditEventRow.created_at >= since, AuditEventRow.event == SPEND_EVENT
        )
        with self._store.read() as session:
            return float(session.scalar(query) or 0.0)


def _search_filters(search: TicketSearch) -> list[ColumnElement[bool]]:
    exact = {
        TicketRow.id: search.ticket_id,
        TicketRow.external_id: search.external_id,
        TicketRow.customer_id: search.customer_id,
        TicketRow.status: search.status,
        TicketRow.category: search.category,
        TicketRow.source: search.source,
        TicketRow.language: search.language,
        TicketRow.classifier: search.classifier,
    }
    filters: list[ColumnElement[bool]] = [
        column == value for column, value in exact.items() if value is not None
    ]
    if search.received_from is not None:
        filters.append(TicketRow.received_at >= search.received_from)
    if search.received_to is not None:
        filters.append(TicketRow.received_at < search.received_to)
    if search.text:
        # LIKE wildcards in the user's words are literal, not patterns.
        words = search.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{words}%"
        filters.append(
            TicketRow.subject.ilike(pattern, escape="\\")
            | TicketRow.description.ilike(pattern, escape="\\")
        )
    return filters
