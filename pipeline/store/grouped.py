"""Grouped stages in SQL (backfills): a group of tickets through a stage in a few statements.

Each stage of a group is one transaction: one guarded UPDATE of the whole group (only tickets
still in the stage's input state move; it returns those), the per-ticket values in one
executemany UPDATE, and every moved ticket's audit event in one bulk INSERT.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import String, Update, any_, bindparam, cast, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pipeline.domain.changes import (
    STAGE_END_EVENTS,
    ClassifiedTicket,
    Closed,
    RoutedTicket,
    closing_detail,
)
from pipeline.domain.lifecycle import Move, Stage, TicketStatus, check_move
from pipeline.domain.models import TicketRecord
from pipeline.store.bulk import insert_audit_events, recordset_json
from pipeline.store.deliveries import DELIVERIES
from pipeline.store.engine import Sessions
from pipeline.store.fields import classified_fields, routed_fields
from pipeline.store.guarded import COLUMNS, TICKETS
from pipeline.store.schema import AuditEventRow, TicketRow, utcnow
from pipeline.store.transitions import CLOSED_STATUSES, FINAL_STATUS_SQL


def _among(session: Session, column: Any, ids: Sequence[str]) -> Any:
    """`column IN ids`; on PostgreSQL `= ANY(:ids)`, one array parameter.

    An IN list of a hundred ids makes a statement psycopg must re-parse in Python each time
    (too long for its query cache); the array keeps the statement short and constant.
    """
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(cast(list(ids), postgresql.ARRAY(String)))
    return column.in_(list(ids))


def _event(
    ticket_id: str, stage: Stage, event: str, detail: Mapping[str, Any], attempt: int, at: datetime
) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "stage": stage.value,
        "event": event,
        "detail": dict(detail),
        "attempt": attempt,
        "created_at": at,
    }


@cache
def _set_per_ticket(names: tuple[str, ...]) -> Update:
    """UPDATE tickets SET <names> WHERE id = :b_id, for executemany (compiled once)."""
    columns: dict[Any, Any] = {COLUMNS[name]: bindparam(f"b_{name}") for name in names}
    return update(TICKETS).where(TICKETS.c.id == bindparam("b_id")).values(columns)


def _move_group(
    session: Session,
    ticket_ids: Sequence[str],
    move: Move,
    expected: TicketStatus,
    to: TicketStatus | Sequence[TicketStatus],
    values: Mapping[str, Any],
    now: datetime,
    returning: Sequence[Any] = (),
) -> list[Any]:
    """One guarded UPDATE of the group: only rows still `expected` move; the rows that did.

    The rows it returns stay locked (PostgreSQL) or under the write lock (SQLite) until the
    transaction ends, so the per-ticket values written next cannot race another worker.
    """
    targets = (to,) if isinstance(to, TicketStatus) else tuple(to)
    for target in targets:
        check_move(move, expected, target)  # an illegal move raises before any SQL
    changes: dict[str, Any] = {"updated_at": now, "retrying_since": None, "next_attempt_at": None}
    if isinstance(to, TicketStatus):
        changes["status"] = to.value
    changes |= values
    query = (
        update(TICKETS)
        .where(_among(session, TICKETS.c.id, ticket_ids), TICKETS.c.status == expected.value)
        .values({COLUMNS[name]: value for name, value in changes.items()})
        .returning(TICKETS.c.id, *returning)
    )
    return list(session.execute(query).all())


def _set_each(session: Session, rows: list[dict[str, Any]]) -> None:
    """Per-ticket values (keyed by field name, with `id`) in one executemany UPDATE."""
    if rows:
        names = tuple(sorted(k for k in rows[0] if k != "id"))
        params = [{f"b_{k}": v for k, v in row.items()} for row in rows]
        session.connection().execute(_set_per_ticket(names), params)


def _move_each(
    session: Session,
    rows: list[dict[str, Any]],
    move: Move,
    expected: TicketStatus,
    to: TicketStatus,
    now: datetime,
) -> list[str]:
    """Move the group's tickets still `expected` to `to`, each with its own values; the ids.

    PostgreSQL: one `UPDATE ... FROM json_populate_recordset(...)` (guard and values in one
    statement); elsewhere the guarded group UPDATE, then the values in one executemany.
    """
    ids = [row["id"] for row in rows]
    if session.get_bind().dialect.name != "postgresql":
        moved = [str(r[0]) for r in _move_group(session, ids, move, expected, to, {}, now)]
        chosen = set(moved)
        _set_each(session, [row for row in rows if row["id"] in chosen])
        return moved
    check_move(move, expected, to)  # an illegal move raises before any SQL
    names = sorted(k for k in rows[0] if k != "id")
    columns = [COLUMNS[name].name for name in names]
    sets = ", ".join(f'"{c}" = v."{c}"' for c in columns)
    statement = text(
        f"UPDATE tickets AS t SET status = :to, updated_at = :now, retrying_since = NULL, "
        f"next_attempt_at = NULL, {sets} "
        "FROM json_populate_recordset(NULL::tickets, CAST(:rows AS json)) AS v "
        "WHERE t.id = v.id AND t.status = :expected RETURNING t.id"
    )
    payload = recordset_json(
        [{"id": row["id"], **{COLUMNS[n].name: row[n] for n in names}} for row in rows]
    )
    params = {"to": to.value, "now": now, "rows": payload, "expected": expected.value}
    return [str(r[0]) for r in session.execute(statement, params)]


class SqlGroupedTransitions:
    """The GroupedTransitions port on SQL: each stage of a group is one transaction."""

    def __init__(self, store: Sessions) -> None:
        self._store = store

    def tickets_among(
        self, ticket_ids: Sequence[str], status: TicketStatus | None
    ) -> list[TicketRecord]:
        """The given tickets that are in `status` (None: in any), in the order given."""
        with self._store.lookup() as session:
            query = select(TicketRow).where(_among(session, TicketRow.id, ticket_ids))
            if status is not None:
                query = query.where(TicketRow.status == status.value)
            rows = session.scalars(query)
            found = {row.id: TicketRecord.model_validate(row) for row in rows}
        return [found[i] for i in ticket_ids if i in found]

    def statuses_of(self, ticket_ids: Sequence[str]) -> dict[str, str]:
        """Each stored ticket's status (a ticket not stored is absent)."""
        with self._store.lookup() as session:
            rows = session.execute(
                select(TicketRow.id, TicketRow.status).where(
                    _among(session, TicketRow.id, ticket_ids)
                )
            ).all()
        return {str(i): str(s) for i, s in rows}

    def mark_classified_group(
        self, classified: Sequence[ClassifiedTicket], *, attempt: int
    ) -> list[str]:
        """received → classified for many, with their `classified` events; the ids that moved."""
        if not classified:
            return []
        now = utcnow()
        by_id = {one.ticket_id: one for one in classified}
        with self._store.transaction() as session:
            rows = [{"id": i, **classified_fields(one)} for i, one in by_id.items()]
            moved = _move_each(
                session, rows, Move.classify, TicketStatus.received, TicketStatus.classified, now
            )
            insert_audit_events(
                session,
                [
                    _event(i, Stage.classify, "classified", by_id[i].detail, attempt, now)
                    for i in moved
                ],
            )
        return [one.ticket_id for one in classified if one.ticket_id in set(moved)]

    def mark_routed_group(self, routed: Sequence[RoutedTicket], *, attempt: int) -> list[str]:
        """classified → routed for many (nothing sent), delivery records and events; moved ids."""
        if not routed:
            return []
        now = utcnow()
        by_id = {one.ticket_id: one for one in routed}
        with self._store.transaction() as session:
            rows = [{"id": i, **routed_fields(one)} for i, one in by_id.items()]
            moved = _move_each(
                session, rows, Move.route, TicketStatus.classified, TicketStatus.routed, now
            )
            _insert_recorded_deliveries(session, [by_id[i] for i in moved], now)
            insert_audit_events(
                session,
                [
                    _event(i, Stage.route, by_id[i].event, by_id[i].detail(), attempt, now)
                    for i in moved
                ],
            )
        return [one.ticket_id for one in routed if one.ticket_id in set(moved)]

    def close_group(self, ticket_ids: Sequence[str], *, attempt: int) -> list[Closed]:
        """routed → done or needs_review for many, with their `closed` events; those closed."""
        if not ticket_ids:
            return []
        now = utcnow()
        with self._store.transaction() as session:
            rows = _move_group(
                session, ticket_ids, Move.close, TicketStatus.routed, CLOSED_STATUSES,
                {"status": FINAL_STATUS_SQL, "finished_at": now}, now,
                returning=(
                    TICKETS.c.status, TICKETS.c.department, TICKETS.c.review_reason,
                    TICKETS.c.attempts, TICKETS.c.received_at,
                ),
            )  # fmt: skip
            ends: dict[str, list[tuple[str, datetime]]] = {str(row[0]): [] for row in rows}
            if ends:
                trail = session.execute(
                    select(AuditEventRow.ticket_id, AuditEventRow.event, AuditEventRow.created_at)
                    .where(
                        _among(session, AuditEventRow.ticket_id, list(ends)),
                        AuditEventRow.event.in_(STAGE_END_EVENTS),
                    )
                    .order_by(AuditEventRow.id)
                ).all()
                for ticket_id, event, created_at in trail:
                    ends[ticket_id].append((event, created_at))
            events = [
                _event(
                    str(row[0]),
                    Stage.audit,
                    "closed",
                    closing_detail(
                        status=row.status,
                        department=row.department,
                        review_reason=row.review_reason,
                        attempts=row.attempts,
                        received_at=row.received_at,
                        ends_by_event=ends[str(row[0])],
                        closed_at=now,
                    ),
                    attempt,
                    now,
                )
                for row in rows
            ]
            insert_audit_events(session, events)
        return [Closed(str(row[0]), str(row.status), closed=True) for row in rows]


def _insert_recorded_deliveries(
    session: Session, routed: Sequence[RoutedTicket], now: datetime
) -> None:
    """The `recorded` delivery rows of a routing that sent nothing (a repeat is left alone)."""
    if not routed:
        return
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = module.insert(DELIVERIES).on_conflict_do_nothing()
    session.connection().execute(
        statement,
        [
            {
                "ticket_id": one.ticket_id,
                "department": one.department,
                "target": "http",
                "generation": one.generation,
                "endpoint": one.endpoint,
                "status": one.delivery.value,
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
            for one in routed
        ],
    )
