"""audit_events partitioned by month on PostgreSQL: naming, bounds and the maintenance step.

Migration 0005 turns audit_events into a table range-partitioned on created_at (one partition
per month, and a DEFAULT one for rows no month holds yet). `ensure_audit_partitions` creates
the coming months' partitions ahead of time (beat runs it daily, `triage db upgrade` once), so
the DEFAULT partition stays empty and old months can be detached or dropped as a whole.
SQLite keeps the plain table: every function here is a no-op there.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

PARENT = "audit_events"
DEFAULT_PARTITION = "audit_events_default"
MONTHS_AHEAD = 3


def month_start(day: date) -> date:
    """The first day of `day`'s month."""
    return day.replace(day=1)


def add_months(month: date, count: int) -> date:
    """The first day of the month `count` months after `month` (which is a first)."""
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    """audit_events_YYYY_MM."""
    return f"{PARENT}_{month.year:04d}_{month.month:02d}"


def is_partition_name(name: str | None) -> bool:
    """True for one of audit_events' partitions (not a table of the models)."""
    return (
        bool(name)
        and str(name).startswith(f"{PARENT}_")
        and (name == DEFAULT_PARTITION or str(name)[len(PARENT) + 1 :].replace("_", "").isdigit())
    )


def is_partitioned(connection: Connection) -> bool:
    """Whether audit_events is a partitioned table here (PostgreSQL after 0005)."""
    if connection.dialect.name != "postgresql":
        return False
    kind = connection.execute(
        text("SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass(:t)"), {"t": PARENT}
    ).scalar()
    return kind == "p"


def existing_partitions(connection: Connection) -> set[str]:
    """The names of audit_events' partitions."""
    rows = connection.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(:t)"
        ),
        {"t": PARENT},
    )
    return {str(name) for (name,) in rows}


def create_month_partition(connection: Connection, month: date) -> bool:
    """Create `month`'s partition unless it exists, taking over any of its rows the DEFAULT
    partition holds; returns whether it was created."""
    name = partition_name(month)
    if name in existing_partitions(connection):
        return False
    start, end = month.isoformat(), add_months(month, 1).isoformat()
    bounds = f"FROM ('{start} 00:00:00+00') TO ('{end} 00:00:00+00')"
    # A partition cannot be created over rows the DEFAULT partition holds for its range:
    # build it beside, move those rows in, then attach it (one transaction).
    connection.execute(
        text(f'CREATE TABLE "{name}" (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)')
    )
    if DEFAULT_PARTITION in existing_partitions(connection):
        connection.execute(
            text(
                f'WITH moved AS (DELETE FROM "{DEFAULT_PARTITION}" '
                "WHERE created_at >= CAST(:start AS timestamptz) "
                "AND created_at < CAST(:end AS timestamptz) RETURNING *) "
                f'INSERT INTO "{name}" SELECT * FROM moved'
            ),
            {"start": f"{start} 00:00:00+00", "end": f"{end} 00:00:00+00"},
        )
    connection.execute(text(f'ALTER TABLE {PARENT} ATTACH PARTITION "{name}" FOR VALUES {bounds}'))
    return True


def create_partitions_through(connection: Connection, first: date, last: date) -> list[str]:
    """Create every missing month partition from `first`'s month to `last`'s; returns them."""
    created = []
    month, last = month_start(first), month_start(last)
    while month <= last:
        if create_month_partition(connection, month):
            created.append(partition_name(month))
        month = add_months(month, 1)
    return created


def ensure_audit_partitions(
    engine: Engine, *, months_ahead: int = MONTHS_AHEAD, now: datetime | None = None
) -> list[str]:
    """Create this month's and the next `months_ahead` months' audit_events partitions
    (PostgreSQL, once partitioned; a no-op elsewhere); returns the ones created."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    with engine.begin() as connection:
        if not is_partitioned(connection):
            return []
        # Beat and `triage db upgrade` may run this at once: one at a time, per database.
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('triage.audit_parts'))"))
        created = create_partitions_through(
            connection, today, add_months(month_start(today), months_ahead)
        )
    if created:
        log.info("created audit_events partitions: %s", ", ".join(created))
    return created


def include_name(name: str | None, type_: str, parent_names: Mapping[Any, str | None]) -> bool:
    """Alembic autogenerate filter: audit_events' partitions are not tables of the models."""
    if type_ == "table":
        return not is_partition_name(name)
    return not is_partition_name(parent_names.get("table_name"))
