"""The review console's reads: SQL (SQLite, PostgreSQL) and the in-memory twin agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.domain.lifecycle import TicketStatus
from pipeline.domain.review import TicketSearch
from pipeline.store.memory import InMemoryTicketRepository
from pipeline.store.memory_operator import MemoryReviewQueries
from pipeline.store.tickets import TicketStore
from tests.conftest import submit
from tests.support.tickets import force_status


def queries(store: TicketStore | InMemoryTicketRepository) -> Any:
    return (
        MemoryReviewQueries(store) if isinstance(store, InMemoryTicketRepository) else store.reports
    )


@pytest.fixture
def seeded(every_store: TicketStore | InMemoryTicketRepository) -> tuple[Any, list[str]]:
    ids = []
    for i in range(5):
        ticket_id = submit(
            every_store,
            subject=f"Order {i}",
            description="100% charged_twice" if i == 3 else f"parcel {i} late",
            customer_id="cus_a" if i % 2 else "cus_b",
            external_id=f"ext-{i}",
        )
        ids.append(ticket_id)
    for ticket_id in ids[:3]:
        force_status(
            every_store, ticket_id, TicketStatus.needs_review, category="billing", language="en"
        )
    return every_store, ids


def test_search_filters_match_on_every_store(seeded: tuple[Any, list[str]]) -> None:
    store, ids = seeded
    reports = queries(store)
    found = reports.search_tickets(TicketSearch(status="needs_review"), oldest_first=True)
    assert [t.id for t in found] == ids[:3]  # oldest first: arrival order
    assert [t.id for t in reports.search_tickets(TicketSearch(customer_id="cus_a"))] == [
        ids[3],
        ids[1],
    ]  # newest first by default
    assert [t.id for t in reports.search_tickets(TicketSearch(external_id="ext-4"))] == [ids[4]]
    # LIKE wildcards are literal: "%" and "_" match only themselves.
    assert [t.id for t in reports.search_tickets(TicketSearch(text="0% CHARGED_"))] == [ids[3]]
    assert reports.search_tickets(TicketSearch(text="1_0")) == []
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert reports.search_tickets(TicketSearch(received_from=tomorrow)) == []


def test_search_pages_with_the_last_id_as_cursor(seeded: tuple[Any, list[str]]) -> None:
    store, ids = seeded
    reports = queries(store)
    first = reports.search_tickets(TicketSearch(), limit=2, oldest_first=True)
    rest = reports.search_tickets(TicketSearch(), after_id=first[-1].id, oldest_first=True)
    assert [t.id for t in first + rest] == ids


def test_trail_events_and_received_tickets(seeded: tuple[Any, list[str]]) -> None:
    store, ids = seeded
    reports = queries(store)
    since = datetime.now(UTC) - timedelta(hours=1)
    received = reports.trail_events(["received"], since=since, limit=10)
    assert [e.ticket_id for e in received] == list(reversed(ids))  # newest first
    arrivals = reports.received_tickets(since=since, limit=10)
    assert sorted(a.category or "-" for a in arrivals) == [
        "-",
        "-",
        "billing",
        "billing",
        "billing",
    ]
