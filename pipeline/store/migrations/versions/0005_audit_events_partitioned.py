"""audit_events range-partitioned by month on created_at (PostgreSQL only)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 23:00:00

The trail is the biggest table and only grows; by month, retention can drop a month as a
whole and the queries that look at recent events (reports, the sweeper's) read only recent
partitions. The table is rebuilt: a partitioned audit_events (primary key (id, created_at):
a partitioned table's keys must include its partition key) with one partition per month that
holds rows, this month and the next ones, and a DEFAULT partition; the rows are copied over
keeping their ids (the same sequence goes on numbering). SQLite keeps the plain table.
"""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import op
from sqlalchemy import text

from pipeline.store.partitions import (
    DEFAULT_PARTITION,
    MONTHS_AHEAD,
    add_months,
    create_partitions_through,
    month_start,
)

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = "id, ticket_id, stage, event, detail, attempt, created_at"


def _columns_sql(primary_key: tuple[str, ...]) -> str:
    return (
        "id BIGINT NOT NULL DEFAULT nextval('audit_events_id_seq'::regclass), "
        "ticket_id VARCHAR(36) NOT NULL, stage VARCHAR(16) NOT NULL, "
        "event VARCHAR(32) NOT NULL, detail JSON NOT NULL, attempt INTEGER NOT NULL, "
        "created_at TIMESTAMP WITH TIME ZONE NOT NULL, "
        f"CONSTRAINT audit_events_pkey PRIMARY KEY ({', '.join(primary_key)}), "
        "CONSTRAINT audit_events_ticket_id_fkey FOREIGN KEY (ticket_id) "
        "REFERENCES tickets (id) ON DELETE CASCADE"
    )


def _set_aside_old_table() -> None:
    """Rename the old table and its named objects; the sequence stays for the new one."""
    op.execute("ALTER SEQUENCE audit_events_id_seq OWNED BY NONE")
    op.execute("ALTER TABLE audit_events RENAME TO audit_events_old")
    op.execute(
        "ALTER TABLE audit_events_old RENAME CONSTRAINT audit_events_pkey TO audit_events_old_pkey"
    )
    op.execute(
        "ALTER TABLE audit_events_old RENAME CONSTRAINT audit_events_ticket_id_fkey "
        "TO audit_events_old_ticket_id_fkey"
    )
    op.execute(
        "ALTER INDEX ix_audit_events_ticket_id_id RENAME TO ix_audit_events_old_ticket_id_id"
    )


def _move_rows_and_finish() -> None:
    op.execute(f"INSERT INTO audit_events ({COLUMNS}) SELECT {COLUMNS} FROM audit_events_old")
    op.execute("DROP TABLE audit_events_old")
    op.execute("ALTER SEQUENCE audit_events_id_seq OWNED BY audit_events.id")
    op.execute("CREATE INDEX ix_audit_events_ticket_id_id ON audit_events (ticket_id, id)")


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    _set_aside_old_table()
    op.execute(
        f"CREATE TABLE audit_events ({_columns_sql(('id', 'created_at'))}) "
        "PARTITION BY RANGE (created_at)"
    )
    op.execute(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF audit_events DEFAULT")
    connection = op.get_bind()
    oldest = connection.execute(text("SELECT min(created_at) FROM audit_events_old")).scalar()
    today = datetime.now(UTC).date()
    first = oldest.astimezone(UTC).date() if oldest is not None else today
    create_partitions_through(
        connection, min(first, today), add_months(month_start(today), MONTHS_AHEAD)
    )
    _move_rows_and_finish()


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    _set_aside_old_table()  # the partitioned table (its partitions follow it)
    op.execute(f"CREATE TABLE audit_events ({_columns_sql(('id',))})")
    _move_rows_and_finish()
