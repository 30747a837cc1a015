"""Migrations: an empty database is migrated, a stale one holding data is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from pipeline.store.engine import create_store_engine
from pipeline.store.migrate import (
    StaleSchemaError,
    current_revision,
    ensure_schema,
    head_revision,
    upgrade_database,
)
from pipeline.store.schema import Base


def test_empty_database_is_migrated_to_head(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'a.db'}")
    ensure_schema(engine)
    assert current_revision(engine) == head_revision(engine)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())


def test_sqlite_runs_in_wal_mode_with_busy_timeout(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'a.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() >= 5000


def test_stale_database_with_data_is_refused_naming_the_command(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade_database(engine)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO tickets (id, source, payload_hash, queue, subject, description,"
                " customer_id, priority, metadata, received_at, status, generation, attempts,"
                " stage_runs, updated_at) VALUES ('t1', 'api', 'h', 'live', 's', 'd', 'c',"
                " 'normal', '{}', '2026-01-01', 'received', 1, 0, 0, '2026-01-01')"
            )
        )
        # Pretend the database was written by an older release.
        connection.execute(text("UPDATE alembic_version SET version_num = '0000_older'"))
    with pytest.raises(StaleSchemaError, match="triage db upgrade"):
        ensure_schema(engine)


def test_migrations_run_on_postgresql(postgres_url: str) -> None:
    engine = create_store_engine(postgres_url)
    ensure_schema(engine)
    assert current_revision(engine) == head_revision(engine)
    engine.dispose()


def test_migrations_match_the_models(any_store) -> None:  # type: ignore[no-untyped-def]
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from pipeline.store.partitions import include_name

    with any_store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": include_name})
        assert compare_metadata(context, Base.metadata) == []
