"""Engines and sessions: created on demand from settings, never at import."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

SQLITE_BUSY_TIMEOUT_MS = 30_000


def create_store_engine(url: str, *, async_commit: bool = False, **kwargs: Any) -> Engine:
    """An engine for `url`: SQLite gets WAL and a busy timeout, in-memory SQLite one shared link.

    `async_commit` sets PostgreSQL's synchronous_commit=off on every connection (backfills).
    """
    if url.startswith("sqlite"):
        in_memory = url in {"sqlite://", "sqlite:///:memory:"}
        options: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        if in_memory:
            options["poolclass"] = StaticPool
        engine = create_engine(url, **options, **kwargs)
        _configure_sqlite(engine, wal=not in_memory)
        return engine
    # No pre-ping: it costs a round trip per checkout (five per ticket). A connection the
    # server dropped fails its first statement instead; SQLAlchemy then invalidates the whole
    # pool, and the stage retries (the API answers 503), on fresh connections.
    options = {"pool_size": 10, "max_overflow": 20, "pool_recycle": 1800}
    if async_commit:
        options["connect_args"] = {"options": "-c synchronous_commit=off"}
    options.update(kwargs)
    return create_engine(url, **options)


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (below): pysqlite's implicit BEGIN is deferred.
        dbapi_connection.isolation_level = None
        # Several processes share one file: WAL lets readers run beside the writer, and the busy
        # timeout makes a writer wait for the lock instead of failing at once.
        cursor = dbapi_connection.cursor()
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that reads then writes must upgrade its lock, and when two
        # writers collide SQLite's busy handler backs off in sleeps of up to 100 ms. Writers
        # take the lock up front (and queue on a mutex in-process); readers never block in WAL.
        writing = getattr(_write_intent, "active", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


_write_intent = threading.local()
_write_locks: dict[int, threading.RLock] = {}
_write_locks_guard = threading.Lock()


@contextmanager
def write_transaction_guard(engine: Engine) -> Iterator[None]:
    """Around a write transaction: on SQLite, one writer per process at a time, lock taken early."""
    if engine.dialect.name != "sqlite":
        yield
        return
    with _write_locks_guard:
        lock = _write_locks.setdefault(id(engine), threading.RLock())
    with lock:
        previous = getattr(_write_intent, "active", False)
        _write_intent.active = True
        try:
            yield
        finally:
            _write_intent.active = previous


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


class Sessions:
    """An engine's sessions: the SQL store's own tool, never handed outside pipeline/store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)
        # Single reads need no transaction: on PostgreSQL, autocommit spares each one its
        # BEGIN and ROLLBACK round trips. SQLite's are local calls, and its BEGIN is ours.
        self._lookups = (
            self._sessions
            if engine.dialect.name == "sqlite"
            else session_factory(engine.execution_options(isolation_level="AUTOCOMMIT"))
        )

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any error."""
        with write_transaction_guard(self.engine), self._sessions.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session (never takes the write lock; loaded objects stay readable)."""
        with self._sessions() as session:
            yield session

    @contextmanager
    def lookup(self) -> Iterator[Session]:
        """A session for reads that need no common snapshot (each runs on its own)."""
        with self._lookups() as session:
            yield session

    def writes(self, statements: int) -> AbstractContextManager[Session]:
        """A session for `statements` self-contained writes (single_statement.write_move).

        On PostgreSQL one such write is its own transaction (autocommit: no BEGIN, no COMMIT);
        more than one, or any write on SQLite (its BEGIN is ours), gets a transaction.
        """
        if statements == 1 and self.engine.dialect.name != "sqlite":
            return self.lookup()
        return self.transaction()
