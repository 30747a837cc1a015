"""Alembic migrations: upgrade on demand, migrate an empty database, refuse a stale one."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, inspect, select

from pipeline.domain.errors import ConfigurationError
from pipeline.store.schema import TicketRow

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _migrates_something(record: logging.LogRecord) -> bool:
    # Alembic says "Context impl …" and "Will assume … DDL" at INFO each time a revision is
    # read, i.e. on every store opened: noise in cron logs. "Running upgrade …" stays.
    return not str(record.msg).startswith(("Context impl", "Will assume"))


logging.getLogger("alembic.runtime.migration").addFilter(_migrates_something)


class StaleSchemaError(ConfigurationError):
    """The database holds data under an older schema: a person must run the upgrade."""


def alembic_config(engine: Engine) -> Config:
    """An Alembic config that runs our migrations on `engine`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def head_revision(engine: Engine) -> str | None:
    """The newest migration the code knows."""
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (None when never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_database(engine: Engine) -> None:
    """Apply every pending migration (`triage db upgrade`), then the coming months' partitions."""
    from pipeline.store.partitions import ensure_audit_partitions

    command.upgrade(alembic_config(engine), "head")
    ensure_audit_partitions(engine)  # PostgreSQL only; beat keeps them coming


def ensure_schema(engine: Engine) -> None:
    """Migrate an empty database; refuse one that holds data under an older schema."""
    head = head_revision(engine)
    current = current_revision(engine)
    if current == head:
        return
    if _holds_tickets(engine):
        raise StaleSchemaError(
            f"database schema is at {current or 'no revision'}, this version needs {head}: "
            "run `triage db upgrade` (after a backup) before starting"
        )
    upgrade_database(engine)


def _holds_tickets(engine: Engine) -> bool:
    if not inspect(engine).has_table(TicketRow.__tablename__):
        return False
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(TicketRow)).scalar_one()
    return count > 0
