"""Engines: backfill processes commit asynchronously on PostgreSQL, live ones durably."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from pipeline.settings import Settings
from pipeline.store.engine import create_store_engine
from pipeline.wiring import open_store


@pytest.mark.parametrize(("async_commit", "expected"), [(False, "on"), (True, "off")])
def test_async_commit_sets_synchronous_commit_on_every_connection(
    postgres_url: str, async_commit: bool, expected: str
) -> None:
    engine = create_store_engine(postgres_url, async_commit=async_commit)
    try:
        with engine.connect() as first, engine.connect() as second:
            for connection in (first, second):
                assert connection.execute(text("SHOW synchronous_commit")).scalar() == expected
    finally:
        engine.dispose()


def test_the_setting_reaches_the_store(postgres_url: str) -> None:
    store = open_store(Settings(database_url=postgres_url, async_commit=True), migrate=False)
    try:
        with store.read() as session:
            assert session.execute(text("SHOW synchronous_commit")).scalar() == "off"
    finally:
        store.engine.dispose()


def test_sqlite_ignores_it(tmp_path: object) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path}/x.db", async_commit=True)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        engine.dispose()
