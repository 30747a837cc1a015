"""The ticket store: SQL (schema, engine, migrations, the repository) and its in-memory twin."""

from __future__ import annotations

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError

# The errors that mean the database is unreachable or refused the work: callers outside the
# store (the API's 503 handler) name them through here, never through SQLAlchemy.
STORE_OUTAGES: tuple[type[Exception], ...] = (OperationalError, DBAPIError)
# The errors that mean the database refused the data itself (a value it cannot hold, a
# constraint): not an outage, so never 503; a retry of the same request fails the same way.
# More specific than DBAPIError, so a handler registered for them wins over STORE_OUTAGES.
STORE_DATA_ERRORS: tuple[type[Exception], ...] = (DataError, IntegrityError)


def outage_cause(error: BaseException) -> str:
    """A short name for what took the store down (the driver's error type when there is one)."""
    original = getattr(error, "orig", None)
    return type(original).__name__ if original is not None else str(error)
