"""The store seen from outside: schema state without side effects, errors in one line."""

from __future__ import annotations

from pathlib import Path

from pipeline.settings import Settings
from pipeline.store.health import read_schema_state
from pipeline.wiring import open_store
from tests.conftest import submit
from tests.support.processes import free_port


def test_a_missing_sqlite_file_is_empty_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nothing-yet.db"
    state = read_schema_state(f"sqlite:///{path}")
    assert state.error is None and state.current is None and state.head is not None
    assert not path.exists()


def test_a_migrated_store_is_at_head_and_says_whether_it_holds_tickets(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'triage.db'}"
    store = open_store(Settings(database_url=url))
    state = read_schema_state(url)
    assert state.current == state.head and not state.holds_tickets
    submit(store)
    assert read_schema_state(url).holds_tickets
    store.engine.dispose()


def test_an_unreachable_postgresql_is_one_line_without_the_password() -> None:
    port = free_port()
    url = f"postgresql+psycopg://triage:hunter2@127.0.0.1:{port}/triage"
    state = read_schema_state(url)
    assert state.error is not None
    assert state.error.startswith(f"the store at postgresql+psycopg://triage:***@127.0.0.1:{port}")
    assert state.error.endswith(": start PostgreSQL or set TRIAGE_DATABASE_URL")
    assert "Connection refused" in state.error
    assert "hunter2" not in state.error and "\n" not in state.error


def test_a_missing_postgresql_database_says_how_to_create_it(postgres_url: str) -> None:
    missing = postgres_url.rsplit("/", 1)[0] + "/triage_never_created"
    state = read_schema_state(missing)
    assert state.error is not None
    assert 'database "triage_never_created" does not exist' in state.error
    assert state.error.endswith("create it with `triage db upgrade`")
