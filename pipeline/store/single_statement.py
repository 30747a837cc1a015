"""PostgreSQL: a guarded move and the rows that explain it, sent as one statement.

`WITH moved AS (UPDATE tickets ... RETURNING id) INSERT INTO audit_events ... SELECT ... FROM
moved`: the UPDATE's guard decides whether the audit event (and a delivery record) is written,
in one statement, which PostgreSQL runs atomically on its own. Sent on an autocommit
connection it needs no BEGIN and no COMMIT: one round trip where a transaction takes four or
five. SQLite cannot put DML in a CTE: `write_move` sends it the same rows as three statements in
the caller's transaction. Either way the named state change (`transitions.py`) builds its
UPDATE and audit row once, for both.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import CTE, Insert, Table, Update, cast, insert, literal, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.orm import Session

from pipeline.domain.changes import DeliveryAttempt
from pipeline.domain.lifecycle import Stage
from pipeline.store.deliveries import (
    DELIVERIES,
    DELIVERY_KEY,
    delivery_values,
    save_delivery_attempt,
)
from pipeline.store.guarded import AUDIT_EVENTS, TICKETS
from pipeline.store.guarded import moved as ran
from pipeline.store.schema import utcnow


def audit_row(
    stage: Stage,
    event: str,
    detail: Mapping[str, Any] | None,
    *,
    attempt: int,
    at: datetime | None = None,
) -> dict[str, Any]:
    """An audit event's columns, but for its ticket id (taken from the moved row)."""
    return {
        "stage": stage.value,
        "event": event,
        "detail": dict(detail or {}),
        "attempt": attempt,
        "created_at": at or utcnow(),
    }


def _from_moved(table: Table, values: Mapping[str, Any], moved: CTE) -> Any:
    # Typed parameters: in INSERT ... SELECT PostgreSQL does not infer them from the target.
    columns = [cast(literal(v, table.c[k].type), table.c[k].type) for k, v in values.items()]
    return select(moved.c.id, *columns)


def move_with_audit(
    session: Session,
    query: Update,
    audit: Mapping[str, Any],
    delivery: DeliveryAttempt | None = None,
) -> bool:
    """Run the guarded UPDATE with its audit event (and delivery upsert) as one statement.

    True when the ticket moved (the UPDATE matched), and then every row was written with it.
    """
    moved = query.returning(TICKETS.c.id).cte("moved")
    statement: Insert = (
        insert(AUDIT_EVENTS)
        .from_select(["ticket_id", *audit], _from_moved(AUDIT_EVENTS, audit, moved))
        .returning(AUDIT_EVENTS.c.ticket_id)
    )
    if delivery is not None:
        values, on_conflict = delivery_values(delivery)
        values.pop("ticket_id")
        upsert = (
            postgresql_insert(DELIVERIES)
            .from_select(["ticket_id", *values], _from_moved(DELIVERIES, values, moved))
            .on_conflict_do_update(index_elements=DELIVERY_KEY, set_=on_conflict)
        )
        statement = statement.add_cte(upsert.cte("delivered"))
    return session.execute(statement).first() is not None


def write_move(
    session: Session,
    ticket_id: str,
    query: Update,
    audit: Mapping[str, Any],
    delivery: DeliveryAttempt | None = None,
) -> bool:
    """The guarded UPDATE, then (only if it matched) its audit event and delivery record.

    PostgreSQL: one statement (`move_with_audit`). SQLite: the UPDATE, the delivery upsert and
    the audit INSERT in the caller's transaction (Sessions.writes gives one).
    """
    if session.get_bind().dialect.name != "sqlite":
        return move_with_audit(session, query, audit, delivery)
    if not ran(session, query):
        return False
    if delivery is not None:
        save_delivery_attempt(session, delivery)
    session.execute(insert(AUDIT_EVENTS).values(ticket_id=ticket_id, **audit))
    return True
