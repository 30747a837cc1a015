"""The store seen from outside: its schema state (read-only) and its errors in one line."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, func, inspect, make_url, select
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError

from pipeline.domain.urls import redact_url
from pipeline.ports import SchemaState
from pipeline.store.engine import create_store_engine
from pipeline.store.migrate import current_revision, head_revision
from pipeline.store.schema import TicketRow


def error_cause(error: BaseException) -> str:
    """The first line of the driver's message (psycopg and sqlite3 say what went wrong there)."""
    original = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    first = lines[0] if lines else type(original).__name__
    # libpq: `connection to server at "h", port 5432 failed: FATAL:  database "x" does not exist`
    return " ".join(first.rpartition("FATAL:")[2].split())[:200]


def store_error_line(url: str, error: BaseException) -> str:
    """One actionable line for a store that did not answer (or refused the work)."""
    where = redact_url(url)
    cause = error_cause(error)
    if not isinstance(error, OperationalError | InterfaceError) and isinstance(error, DBAPIError):
        return f"the store at {where} refused the work ({cause})"
    if "does not exist" in cause and "database" in cause:
        return f"the store at {where} does not exist ({cause}): create it with `triage db upgrade`"
    if url.startswith("sqlite"):
        return (
            f"the store at {where} cannot be opened ({cause}): check the path or set "
            "TRIAGE_DATABASE_URL"
        )
    return (
        f"the store at {where} is unreachable ({cause}): start PostgreSQL or set "
        "TRIAGE_DATABASE_URL"
    )


def read_schema_state(url: str) -> SchemaState:
    """The schema revision of the database at `url` against the code's head; never migrates."""
    try:
        parsed = make_url(url)
        engine = create_store_engine(url)
    except ArgumentError as error:
        return SchemaState(error=f"TRIAGE_DATABASE_URL is not a database URL ({error})")
    database = parsed.database or ""
    on_disk = parsed.get_backend_name() == "sqlite" and database and database[0] != ":"
    if on_disk and not Path(database).exists():  # looking must not create the file
        engine.dispose()
        return SchemaState(head=head_revision(engine))
    try:
        current = current_revision(engine)
        return SchemaState(
            current=current, head=head_revision(engine), holds_tickets=_holds_tickets(engine)
        )
    except DBAPIError as error:
        return SchemaState(error=store_error_line(url, error))
    finally:
        engine.dispose()


def _holds_tickets(engine: Engine) -> bool:
    if not inspect(engine).has_table(TicketRow.__tablename__):
        return False
    with engine.connect() as connection:
        return bool(connection.execute(select(func.count()).select_from(TicketRow)).scalar_one())
