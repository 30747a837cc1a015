"""The stages run on either ticket repository: in memory (no database) and SQLite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline.ports import TicketRepository
from pipeline.settings import Settings
from pipeline.store.memory import InMemoryTicketRepository
from pipeline.wiring import open_store


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, settings: Settings) -> Iterator[TicketRepository]:
    """Both repositories, held to the same behaviour by the same stage tests."""
    if request.param == "memory":
        yield InMemoryTicketRepository()
        return
    sql = open_store(settings)
    yield sql
    sql.engine.dispose()
