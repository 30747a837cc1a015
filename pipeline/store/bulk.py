"""Bulk inserts (ingest batches, backfills): one statement per batch, duplicates skipped.

Core statements on the tables, executed with a list of parameter sets: SQLAlchemy compiles
each statement once and caches it, and sends the rows as one multi-row INSERT
("insertmanyvalues"). Building `.values(rows)` instead compiles a new statement per batch
size, which cost more CPU than the database's whole share of the work.

On PostgreSQL a batch goes as one JSON parameter to `INSERT ... SELECT ... FROM
json_populate_recordset(...)`: the statement text stays short and constant. A multi-row
VALUES of 500 tickets is a ~100 kB statement that psycopg re-parses in Python for every batch
(too long for its query cache): half of `triage backfill`'s CPU went there.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import Insert, Table, insert, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from pipeline.store.schema import AuditEventRow, TicketRow

TICKETS = cast(Table, TicketRow.__table__)
AUDIT_EVENTS = cast(Table, AuditEventRow.__table__)
# Mapped attribute names that differ from their column names.
_COLUMN_OF = {"extra": "metadata"}


@cache
def _insert_new_statement(dialect: str) -> Insert:
    """INSERT ... ON CONFLICT (source, idempotency_key) DO NOTHING RETURNING id, per dialect."""
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return (
        module.insert(TICKETS)
        .on_conflict_do_nothing(index_elements=["source", "idempotency_key"])
        .returning(TICKETS.c.id)
    )


def insert_new_tickets(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Insert ticket rows, skipping any whose (source, idempotency key) exists; returns new ids.

    Rows are keyed by the mapped attribute names (`extra`, not `metadata`).
    """
    if not rows:
        return set()
    connection = session.connection()
    params = [{_COLUMN_OF.get(key, key): value for key, value in row.items()} for row in rows]
    if connection.dialect.name == "postgresql":
        conflict = "ON CONFLICT (source, idempotency_key) DO NOTHING RETURNING id"
        return {row[0] for row in _insert_recordset(connection, TICKETS, params, conflict)}
    statement = _insert_new_statement(connection.dialect.name)
    return {row[0] for row in connection.execute(statement, params)}


def insert_audit_events(session: Session, events: list[dict[str, Any]]) -> None:
    """Append many audit events in one statement."""
    if not events:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        _insert_recordset(connection, AUDIT_EVENTS, events, "")
    else:
        connection.execute(insert(AUDIT_EVENTS), events)


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:  # as UTCDateTime refuses them
            raise ValueError("naive datetime given to a UTC column")
        return value.isoformat()
    return str(value)  # UUIDs and the like


def _with_defaults(table: Table, rows: list[dict[str, Any]]) -> tuple[list[str], list[Any]]:
    """The columns to send and the rows completed with the columns' Python-side defaults.

    A column neither given nor defaulted in Python is left out (its server default applies).
    """
    given = set().union(*rows)
    columns, filled = [], []
    for column in table.columns:
        default = column.default
        if column.key in given:
            columns.append(column.key)
        elif default is not None and getattr(default, "is_scalar", False):
            columns.append(column.key)
            filled.append((column.key, lambda _ctx, v=default.arg: v))  # type: ignore[attr-defined]
        elif default is not None and getattr(default, "is_callable", False):
            columns.append(column.key)
            filled.append((column.key, default.arg))  # type: ignore[attr-defined]
    if filled:
        rows = [
            {**{key: make(None) for key, make in filled if key not in row}, **row} for row in rows
        ]
    return columns, rows


def _insert_recordset(
    connection: Connection, table: Table, rows: list[dict[str, Any]], tail: str
) -> Any:
    """INSERT the rows as one JSON parameter (PostgreSQL); `tail`: ON CONFLICT/RETURNING."""
    columns, rows = _with_defaults(table, rows)
    names = ", ".join(f'"{name}"' for name in columns)
    statement = (
        f'INSERT INTO "{table.name}" ({names}) SELECT {names} '
        f'FROM json_populate_recordset(NULL::"{table.name}", CAST(:rows AS json)) {tail}'
    )
    return connection.execute(text(statement), {"rows": recordset_json(rows)})


def recordset_json(rows: list[dict[str, Any]]) -> str:
    """Rows (keyed by column name) as the JSON array `json_populate_recordset` reads."""
    return json.dumps(rows, default=_json_value, separators=(",", ":"), ensure_ascii=False)
