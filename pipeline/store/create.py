"""Create the database itself when nobody has (`triage db upgrade`, `make run` on a new server)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from pipeline.domain.errors import ConfigurationError
from pipeline.store.engine import create_store_engine
from pipeline.store.migrate import current_revision, upgrade_database

# PostgreSQL's maintenance databases, tried in order: one of them exists on every server.
MAINTENANCE_DATABASES = ("postgres", "template1")
INSUFFICIENT_PRIVILEGE = "42501"
DUPLICATE_DATABASE = "42P04"  # another process created it between our check and our CREATE
INVALID_CATALOG_NAME = "3D000"  # the database named does not exist


class DatabaseCreationError(ConfigurationError):
    """The database is missing and we may not (or cannot) create it."""


def ensure_database(url: str) -> bool:
    """Create the database `url` names if it does not exist yet; True when it was created.

    SQLite creates its file on first connect (we only make its directory); PostgreSQL is asked
    through a maintenance database on the same server with the same credentials. Other
    backends are left alone. A server that is down raises the driver's error unchanged.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _ensure_sqlite_directory(parsed)
    if parsed.get_backend_name() != "postgresql" or not parsed.database:
        return False
    return _ensure_postgres_database(parsed)


def _ensure_sqlite_directory(url: URL) -> bool:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    return False


def _ensure_postgres_database(url: URL) -> bool:
    name = str(url.database)
    last_error: DBAPIError | None = None
    for maintenance in MAINTENANCE_DATABASES:
        if maintenance == name:
            return False  # the maintenance database itself: it exists by definition
        admin = create_engine(url.set(database=maintenance), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                exists = connection.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
                ).first()
                if exists:
                    return False
                quoted = connection.dialect.identifier_preparer.quote_identifier(name)
                connection.execute(text(f"CREATE DATABASE {quoted}"))
                return True
        except DBAPIError as error:
            if _sqlstate(error) == INSUFFICIENT_PRIVILEGE:
                raise DatabaseCreationError(
                    f"database {name!r} does not exist and user {url.username!r} may not "
                    f"create it: create it (createdb {name}) or grant CREATEDB"
                ) from None
            if _sqlstate(error) == DUPLICATE_DATABASE:
                return False
            if _sqlstate(error) == INVALID_CATALOG_NAME:  # no such maintenance database: next
                last_error = error
                continue
            raise
        finally:
            admin.dispose()
    assert last_error is not None
    raise last_error


def describe(url: str) -> str:
    """A database URL for messages: its name and server, never its password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite {parsed.database or ':memory:'}"
    return f"{parsed.database} on {parsed.host or 'localhost'}:{parsed.port or 'default port'}"


def _sqlstate(error: DBAPIError) -> str | None:
    return getattr(error.orig, "sqlstate", None)


@dataclass(frozen=True)
class UpgradeOutcome:
    """What `create_and_upgrade` did: created the database or not, revisions before and after."""

    created: bool
    before: str | None
    after: str | None
    database: str  # "name on host:port", no credentials: for messages


def create_and_upgrade(url: str) -> UpgradeOutcome:
    """Create the database if it is missing, then apply every pending migration."""
    created = ensure_database(url)
    engine = create_store_engine(url)
    try:
        before = current_revision(engine)
        upgrade_database(engine)
        return UpgradeOutcome(created, before, current_revision(engine), describe(url))
    finally:
        engine.dispose()
