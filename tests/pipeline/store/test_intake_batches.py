"""What a stored batch of new tickets keeps and answers (SQLite, the embedded store).

- A new ticket is stored with a clean run record: generation 1, no attempts, no stage runs.
- A ticket stored not to be delivered (a backfill) keeps that, and its job.
- A batch whose audit details do not line up with its tickets is refused whole, so no
  ticket is ever stored without its own `received` event.
- A batch of new tickets names no earlier ticket for any of them.
- A row that was neither stored nor found is a store bug, raised naming the ticket.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from pipeline.domain.errors import TicketNotFound, TriageError
from pipeline.domain.lifecycle import Queue
from pipeline.domain.models import TicketSubmission, payload_fingerprint
from pipeline.store.intake import (
    StoredBatch,
    acceptance_of,
    new_ticket_row,
    received_ticket,
    store_new_tickets,
)
from pipeline.store.schema import TicketRow, utcnow
from pipeline.store.tickets import TicketStore

BODY: dict[str, object] = {
    "subject": "Invoice",
    "description": "I was charged twice",
    "customer_id": "c1",
}


def received(key: str | None = None) -> tuple[dict[str, object], dict[str, object]]:
    """A ticket received now from the API: its row and its `received` detail."""
    return received_ticket(
        TicketSubmission.model_validate(BODY),
        source="api",
        idempotency_key=key,
        payload_hash=payload_fingerprint(BODY),
        queue=Queue.live,
    )


def test_a_new_ticket_is_stored_with_no_stage_runs(store: TicketStore) -> None:
    submission = TicketSubmission.model_validate(BODY)
    accepted = store.accept(
        submission, source="api", idempotency_key=None, payload_hash=payload_fingerprint(BODY)
    )
    with store.read() as session:
        stored = session.execute(
            select(TicketRow.generation, TicketRow.attempts, TicketRow.stage_runs).where(
                TicketRow.id == accepted.ticket.id
            )
        ).one()
    assert tuple(stored) == (1, 0, 0)


def test_a_ticket_stored_not_to_be_delivered_keeps_that(store: TicketStore) -> None:
    row = new_ticket_row(
        TicketSubmission.model_validate(BODY),
        source="import",
        idempotency_key="line-1",
        payload_hash=payload_fingerprint(BODY),
        queue=Queue.backfill,
        now=utcnow(),
        deliver=False,
        job_id="job-1",
    )
    with store.transaction() as session:
        stored = store_new_tickets(session, [row], [{"source": "import", "queue": "backfill"}])
    answered = acceptance_of(row, stored, store.get).ticket
    for ticket in (answered, store.get(str(row["id"]))):
        assert (ticket.deliver, ticket.job_id, ticket.queue) == (False, "job-1", "backfill")


def test_a_batch_with_a_missing_detail_is_refused_whole(store: TicketStore) -> None:
    (one, one_detail), (two, _) = received("a"), received("b")
    with pytest.raises(ValueError), store.transaction() as session:
        store_new_tickets(session, [one, two], [one_detail])
    for row in (one, two):  # neither kept: a ticket without its `received` event is never stored
        with pytest.raises(TicketNotFound):
            store.get(str(row["id"]))


def test_a_batch_with_a_detail_too_many_is_refused_whole(store: TicketStore) -> None:
    (one, one_detail), (_, two_detail) = received("a"), received("b")
    with pytest.raises(ValueError), store.transaction() as session:
        store_new_tickets(session, [one], [one_detail, two_detail])
    with pytest.raises(TicketNotFound):
        store.get(str(one["id"]))


def test_a_batch_of_new_tickets_names_no_earlier_ticket(store: TicketStore) -> None:
    batch = [received("a"), received(None)]
    rows = [row for row, _ in batch]
    with store.transaction() as session:
        stored = store_new_tickets(session, rows, [detail for _, detail in batch])
    assert stored.new_ids == {row["id"] for row in rows}
    assert stored.existing == {}
    assert [stored.earlier(row) for row in rows] == [None, None]
    [event] = store.audit_trail(str(rows[0]["id"]))
    assert (event.event, event.attempt, event.detail) == (
        "received",
        0,
        {"source": "api", "queue": "live"},
    )


def test_a_row_neither_stored_nor_found_is_a_store_bug_naming_the_ticket(
    store: TicketStore,
) -> None:
    row, _ = received("lost")
    with pytest.raises(TriageError) as bug:
        acceptance_of(row, StoredBatch(new_ids=set(), existing={}), store.get)
    assert str(bug.value) == f"ticket {row['id']} was neither stored nor found"
