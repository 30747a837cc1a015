"""Live work under way, as the store counts it for a backfill to yield to (every store)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg.sql import Literal
from sqlalchemy import event

from pipeline.domain.lifecycle import Queue, TicketStatus
from pipeline.ports import LiveWork
from pipeline.store.memory import InMemoryTicketRepository
from pipeline.store.tickets import TicketStore
from pipeline.wiring.services import live_work_in
from tests.conftest import submit
from tests.support.tickets import force, force_status

AnyStore = TicketStore | InMemoryTicketRepository
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
PG_TYPES = {datetime: "timestamptz", str: "text", list: "text[]"}


def a_minute_ago() -> datetime:
    return datetime.now(UTC) - timedelta(minutes=1)


def test_each_live_ticket_counts_from_acceptance_until_it_is_final(
    every_store: AnyStore,
) -> None:
    live: LiveWork = live_work_in(every_store)
    assert live.in_flight(since=a_minute_ago()) == 0
    ids = [submit(every_store, external_id=f"L-{i}") for i in range(4)]
    assert live.in_flight(since=a_minute_ago()) == 4  # received: queued, or being classified
    force_status(every_store, ids[1], TicketStatus.classified)
    force_status(every_store, ids[2], TicketStatus.routed)
    assert live.in_flight(since=a_minute_ago()) == 4
    for ticket_id, final in zip(ids[:3], ["done", "needs_review", "failed"], strict=True):
        force_status(every_store, ticket_id, TicketStatus(final))
    assert live.in_flight(since=a_minute_ago()) == 1


def test_history_waiting_retries_and_abandoned_tickets_are_not_under_way(
    every_store: AnyStore,
) -> None:
    live = live_work_in(every_store)
    history, deferred, retrying, abandoned, running = (
        submit(every_store, external_id=f"T-{i}") for i in range(5)
    )
    force(every_store, history, queue=Queue.backfill.value)
    force(every_store, deferred, next_attempt_at=datetime.now(UTC) + timedelta(hours=1))
    force(every_store, retrying, retrying_since=datetime.now(UTC))
    force(every_store, abandoned, updated_at=LONG_AGO)  # its worker died; the sweeper's now
    assert live.in_flight(since=a_minute_ago()) == 1
    assert live.in_flight(since=LONG_AGO - timedelta(days=1)) == 2  # the horizon is the caller's
    force_status(every_store, running, TicketStatus.done)
    assert live.in_flight(since=a_minute_ago()) == 0


def test_the_count_reads_the_partial_index_on_postgresql(postgres_url: str) -> None:
    from pipeline.settings import Settings
    from pipeline.store.live_work import SqlLiveWork
    from pipeline.wiring import open_store

    store = open_store(Settings(database_url=postgres_url))
    try:
        submit(store, external_id="P-1")
        statements: list[tuple[str, Any]] = []

        def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            statements.append((statement, parameters))

        event.listen(store.engine, "before_cursor_execute", seen)
        assert SqlLiveWork(store.engine).in_flight(since=a_minute_ago()) == 1
        event.remove(store.engine, "before_cursor_execute", seen)
        ((count_sql, parameters),) = statements
        # Under a generic plan (what a statement psycopg prepared gets after a few runs) the
        # partial index is usable only if the query spells its predicate without parameters.
        names = re.findall(r"%\((\w+)\)s", count_sql)
        numbered = re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m.group(1)) + 1}", count_sql)
        with store.engine.connect() as conn:
            conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table: make it plain
            conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
            types = ", ".join(PG_TYPES[type(parameters[name])] for name in names)
            conn.exec_driver_sql(f"PREPARE live_count({types}) AS {numbered}")
            driver = conn.connection.driver_connection
            values = ", ".join(Literal(parameters[name]).as_string(driver) for name in names)
            rows = conn.exec_driver_sql(f"EXPLAIN EXECUTE live_count({values})")
            plan = "\n".join(row[0] for row in rows)
        assert "ix_tickets_live_under_way" in plan, plan
    finally:
        store.delete_everything_for_tests()
        store.engine.dispose()


def test_a_store_without_a_live_work_twin_is_refused_by_name() -> None:
    from pipeline.domain.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="no LiveWork for a object"):
        live_work_in(object())


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_migration_0006_adds_the_index_and_takes_it_back(dialect: str, tmp_path: Any) -> None:
    from contextlib import ExitStack

    from alembic import command
    from sqlalchemy import inspect

    from pipeline.store.engine import create_store_engine
    from pipeline.store.migrate import alembic_config, current_revision
    from tests.support.servers import postgres_database

    with ExitStack() as stack:
        if dialect == "sqlite":
            url = f"sqlite:///{tmp_path / 'm.db'}"
        else:
            url = stack.enter_context(postgres_database())
        engine = create_store_engine(url)
        stack.callback(engine.dispose)

        def indexes() -> set[str]:
            return {str(i["name"]) for i in inspect(engine).get_indexes("tickets")}

        command.upgrade(alembic_config(engine), "0005")
        assert "ix_tickets_live_under_way" not in indexes()
        command.upgrade(alembic_config(engine), "head")
        assert current_revision(engine) == "0006"
        assert "ix_tickets_live_under_way" in indexes()
        command.downgrade(alembic_config(engine), "0005")
        assert "ix_tickets_live_under_way" not in indexes()
