"""Storing a new ticket: what a producer sent is kept as sent, with its `received` event.

Both repositories (in memory and SQLite) are held to the same answers, as the stages are.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from pipeline.domain.changes import IdempotencyConflict
from pipeline.domain.lifecycle import Queue
from pipeline.domain.models import TicketSubmission, payload_fingerprint
from pipeline.ports import TicketRepository
from pipeline.settings import Settings
from pipeline.store.memory import InMemoryTicketRepository
from pipeline.wiring import open_store

BODY: dict[str, object] = {
    "subject": "Where is my parcel",
    "description": "Order 7 has not arrived",
    "customer_id": "cus_9",
    "priority": "urgent",
    "created_at": "2026-05-06T07:08:09Z",
    "external_id": "fd-77",
    "category": "shipping",
    "store_locale": "de-AT",
}


@pytest.fixture(params=["memory", "sqlite"])
def repo(request: pytest.FixtureRequest, settings: Settings) -> Iterator[TicketRepository]:
    if request.param == "memory":
        yield InMemoryTicketRepository()
        return
    sql = open_store(settings)
    yield sql
    sql.engine.dispose()


def accept(repo: TicketRepository, body: dict[str, object] = BODY, **kw: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {"source": "shop", "idempotency_key": None, **kw}
    return repo.accept(
        TicketSubmission.model_validate(body),
        payload_hash=payload_fingerprint(body),
        **values,  # type: ignore[arg-type]
    )


def test_a_new_ticket_is_stored_as_sent_and_received(repo: TicketRepository) -> None:
    accepted = accept(repo, queue=Queue.backfill, connector="freshdesk")
    assert accepted.created
    answered = accepted.ticket
    stored = repo.get(answered.id)
    for ticket in (answered, stored):  # the answer without a read-back equals the stored row
        assert ticket.source == "shop"
        assert ticket.external_id == "fd-77"
        assert ticket.queue == "backfill"
        assert (ticket.subject, ticket.description) == (
            "Where is my parcel",
            "Order 7 has not arrived",
        )
        assert (ticket.customer_id, ticket.priority) == ("cus_9", "urgent")
        assert ticket.extra == {"store_locale": "de-AT"}
        assert ticket.known_category == "shipping"
        assert ticket.created_at == datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
        assert ticket.status == "received"
        assert (ticket.generation, ticket.attempts) == (1, 0)
        assert ticket.deliver is True and ticket.job_id is None
        assert ticket.connector == "freshdesk"
        assert ticket.category is None and ticket.department is None
        assert ticket.last_error is None and ticket.finished_at is None
        assert ticket.updated_at == ticket.received_at
    assert len(answered.id) == 36 and answered.id.count("-") == 4
    [event] = repo.audit_trail(answered.id)
    assert (event.stage, event.event, event.attempt) == ("ingest", "received", 0)
    assert event.detail == {"source": "shop", "queue": "backfill", "connector": "freshdesk"}
    assert event.created_at == stored.received_at


def test_the_received_event_names_no_connector_when_there_is_none(repo: TicketRepository) -> None:
    ticket = accept(repo).ticket
    assert ticket.queue == "live" and ticket.connector is None
    assert repo.audit_trail(ticket.id)[0].detail == {"source": "shop", "queue": "live"}


def test_a_repeat_is_the_same_ticket_and_another_body_a_conflict(repo: TicketRepository) -> None:
    first = accept(repo, idempotency_key="k1")
    again = accept(repo, idempotency_key="k1")
    assert not again.created and again.ticket.id == first.ticket.id
    assert again.ticket.subject == "Where is my parcel"
    other = {**BODY, "subject": "Something else"}
    with pytest.raises(IdempotencyConflict) as conflict:
        accept(repo, other, idempotency_key="k1")
    assert conflict.value.ticket_id == first.ticket.id
    # Keys are scoped to the source, and unkeyed tickets never collide.
    assert accept(repo, idempotency_key="k1", source="other").created
    assert accept(repo).ticket.id != accept(repo).ticket.id
    assert len(repo.audit_trail(first.ticket.id)) == 1
