"""The ticket store: SQL (schema, engine, migrations, the repository) and its in-memory twin."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, OperationalError

# The errors that mean the database is unreachable or refused the work: callers outside the
# store (the API's 503 handler) name them through here, never through SQLAlchemy.
STORE_OUTAGES: tuple[type[Exception], ...] = (OperationalError, DBAPIError)


def outage_cause(error: BaseException) -> str:
    """A short name for what took the store down (the driver's error type when there is one)."""
    original = getattr(error, "orig", None)
    return type(original).__name__ if original is not None else str(error)
