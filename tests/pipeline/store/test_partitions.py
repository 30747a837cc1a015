"""Migration 0005 and the partition maintenance: audit_events by month on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, text

from pipeline.store.engine import create_store_engine
from pipeline.store.migrate import alembic_config, current_revision, ensure_schema
from pipeline.store.partitions import (
    DEFAULT_PARTITION,
    add_months,
    ensure_audit_partitions,
    month_start,
    partition_name,
)
from tests.support.servers import postgres_database

NOW = datetime.now(UTC)
THIS_MONTH = month_start(NOW.date())


@pytest.fixture
def engine_at_0004() -> Iterator[Engine]:
    """A fresh PostgreSQL database migrated to 0004."""
    with postgres_database() as url:
        engine = create_store_engine(url)
        command.upgrade(alembic_config(engine), "0004")
        yield engine
        engine.dispose()


def _insert_ticket(engine: Engine, ticket_id: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO tickets (id, source, payload_hash, queue, subject, description, "
                "customer_id, priority, metadata, received_at, status, generation, attempts, "
                "stage_runs, updated_at) VALUES (:id, 'api', 'h', 'live', 's', 'd', 'c', "
                "'normal', '{}', now(), 'received', 1, 0, 0, now())"
            ),
            {"id": ticket_id},
        )


def _insert_event(engine: Engine, ticket_id: str, at: datetime) -> int:
    with engine.begin() as connection:
        return int(
            connection.execute(
                text(
                    "INSERT INTO audit_events (ticket_id, stage, event, detail, attempt, "
                    "created_at) VALUES (:t, 'intake', 'received', '{}', 0, :at) RETURNING id"
                ),
                {"t": ticket_id, "at": at},
            ).scalar_one()
        )


def _where_rows_are(engine: Engine) -> dict[int, str]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, tableoid::regclass::text FROM audit_events"))
        return {int(i): str(t) for i, t in rows}


def _relkind(engine: Engine) -> str:
    with engine.connect() as connection:
        return str(
            connection.execute(
                text("SELECT relkind FROM pg_class WHERE relname = 'audit_events'")
            ).scalar_one()
        )


def test_upgrade_keeps_rows_in_month_partitions_and_downgrade_restores(
    engine_at_0004: Engine,
) -> None:
    engine = engine_at_0004
    _insert_ticket(engine, "t-1")
    three_months_ago = NOW - timedelta(days=92)
    old_id = _insert_event(engine, "t-1", three_months_ago)
    new_id = _insert_event(engine, "t-1", NOW)

    command.upgrade(alembic_config(engine), "0005")

    assert _relkind(engine) == "p"
    assert _where_rows_are(engine) == {
        old_id: partition_name(month_start(three_months_ago.date())),
        new_id: partition_name(THIS_MONTH),
    }
    with engine.connect() as connection:
        key = connection.execute(
            text(
                "SELECT array_agg(a.attname ORDER BY a.attname) FROM pg_index i "
                "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                "WHERE i.indrelid = 'audit_events'::regclass AND i.indisprimary"
            )
        ).scalar_one()
        partitions = set(
            connection.execute(
                text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = 'audit_events'::regclass"
                )
            ).scalars()
        )
    assert key == ["created_at", "id"]
    assert {partition_name(add_months(THIS_MONTH, n)) for n in range(4)} <= partitions
    assert DEFAULT_PARTITION in partitions
    # The sequence goes on numbering after the copied rows.
    assert _insert_event(engine, "t-1", NOW) > new_id

    command.downgrade(alembic_config(engine), "0004")

    assert _relkind(engine) == "r"
    assert set(_where_rows_are(engine).values()) == {"audit_events"}
    assert len(_where_rows_are(engine)) == 3
    command.upgrade(alembic_config(engine), "0005")  # and up again
    assert current_revision(engine) == "0005"
    assert len(_where_rows_are(engine)) == 3


def test_a_new_month_lands_in_its_partition_once_maintenance_ran(engine_at_0004: Engine) -> None:
    engine = engine_at_0004
    command.upgrade(alembic_config(engine), "head")
    _insert_ticket(engine, "t-2")
    far = datetime.combine(add_months(THIS_MONTH, 7), datetime.min.time(), UTC) + timedelta(days=3)
    early = _insert_event(engine, "t-2", far)  # no partition yet: the DEFAULT one holds it
    assert _where_rows_are(engine)[early] == DEFAULT_PARTITION

    created = ensure_audit_partitions(engine, months_ahead=1, now=far)

    month = partition_name(add_months(THIS_MONTH, 7))
    assert created == [month, partition_name(add_months(THIS_MONTH, 8))]
    later = _insert_event(engine, "t-2", far + timedelta(hours=1))
    assert _where_rows_are(engine) == {early: month, later: month}  # moved out of DEFAULT
    assert ensure_audit_partitions(engine, months_ahead=1, now=far) == []  # idempotent
    # The foreign key still cascades from tickets to every partition.
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM tickets WHERE id = 't-2'"))
    assert _where_rows_are(engine) == {}


def test_sqlite_keeps_the_plain_table(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'a.db'}")
    ensure_schema(engine)
    assert ensure_audit_partitions(engine) == []
    with engine.connect() as connection:
        tables = set(
            connection.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'table'")
            ).scalars()
        )
    assert "audit_events" in tables and DEFAULT_PARTITION not in tables
    engine.dispose()
