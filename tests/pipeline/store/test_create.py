"""Creating a database nobody created: PostgreSQL via its maintenance database, SQLite's dir."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from pipeline.store.create import (
    DatabaseCreationError,
    create_and_upgrade,
    describe,
    ensure_database,
)
from pipeline.store.engine import create_store_engine
from pipeline.store.migrate import head_revision
from tests.support.servers import POSTGRES_ADMIN_URL, require_server

pytestmark = pytest.mark.integration
SERVER = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]  # postgresql+psycopg://postgres@127.0.0.1:5432


def admin_execute(statement: str) -> None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(statement))
    admin.dispose()


@pytest.fixture
def database_name() -> Iterator[str]:
    """A database name nobody has created; dropped afterwards if a test created it."""
    require_server("127.0.0.1", 5432, "PostgreSQL")
    name = f"triage_create_{uuid.uuid4().hex[:12]}"
    yield name
    admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_missing_postgres_database_is_created_once(database_name: str) -> None:
    url = f"{SERVER}/{database_name}"
    assert ensure_database(url) is True
    assert ensure_database(url) is False  # it exists now
    engine = create_store_engine(url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT current_database()")).scalar() == database_name
    engine.dispose()


def test_create_and_upgrade_says_what_it_did_without_credentials(database_name: str) -> None:
    url = f"postgresql+psycopg://postgres:s3cret@127.0.0.1:5432/{database_name}"
    outcome = create_and_upgrade(url)
    assert outcome.created is True and outcome.before is None
    assert outcome.after == head_revision(create_store_engine(url))
    assert outcome.database == f"{database_name} on 127.0.0.1:5432"
    again = create_and_upgrade(url)
    assert (again.created, again.before, again.after) == (False, outcome.after, outcome.after)
    assert "s3cret" not in describe(url)


def test_a_user_without_createdb_gets_one_line_naming_the_fix(database_name: str) -> None:
    role = f"triage_nocreate_{uuid.uuid4().hex[:8]}"
    admin_execute(f'CREATE ROLE "{role}" LOGIN NOCREATEDB')
    try:
        with pytest.raises(DatabaseCreationError) as error:
            ensure_database(f"postgresql+psycopg://{role}@127.0.0.1:5432/{database_name}")
        message = str(error.value)
        assert "\n" not in message
        assert message == (
            f"database {database_name!r} does not exist and user {role!r} may not create it: "
            f"create it (createdb {database_name}) or grant CREATEDB"
        )
    finally:
        admin_execute(f'DROP ROLE IF EXISTS "{role}"')


def test_sqlite_gets_its_directory_and_is_never_created_here(tmp_path: Path) -> None:
    target = tmp_path / "new" / "dir" / "triage.db"
    assert ensure_database(f"sqlite:///{target}") is False
    assert target.parent.is_dir() and not target.exists()  # SQLite makes the file itself
