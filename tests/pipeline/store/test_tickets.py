"""The ticket repository behaves the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.domain.changes import IdempotencyConflict
from pipeline.domain.errors import TicketNotFound
from pipeline.domain.lifecycle import IllegalMove, Move, Stage, TicketStatus
from pipeline.domain.models import TicketSubmission, payload_fingerprint
from pipeline.store.guarded import append_audit
from pipeline.store.tickets import TicketStore
from tests.conftest import submit


def accept(store: TicketStore, body: dict[str, object], key: str | None):  # type: ignore[no-untyped-def]
    return store.accept(
        TicketSubmission.model_validate(body),
        source="api",
        idempotency_key=key,
        payload_hash=payload_fingerprint(body),
    )


BODY = {
    "subject": "Charged twice",
    "description": "Two charges for order 1",
    "customer_id": "c9",
    "created_at": "2026-01-02T03:04:05+02:00",
    "helpdesk": {"ticket": 7},
}


def test_accept_stores_ticket_and_its_received_event(any_store: TicketStore) -> None:
    acceptance = accept(any_store, BODY, "k1")

    assert acceptance.created
    ticket = any_store.get(acceptance.ticket.id)
    assert ticket.status == TicketStatus.received
    assert ticket.extra == {"helpdesk": {"ticket": 7}}
    assert ticket.created_at == datetime(2026, 1, 2, 1, 4, 5, tzinfo=UTC)
    assert ticket.received_at.tzinfo is not None
    trail = any_store.audit_trail(ticket.id)
    assert [(e.stage, e.event) for e in trail] == [("ingest", "received")]


def test_same_key_same_body_returns_the_first_ticket(any_store: TicketStore) -> None:
    first = accept(any_store, BODY, "k1")
    again = accept(any_store, dict(BODY), "k1")

    assert not again.created
    assert again.ticket.id == first.ticket.id
    assert any_store.count_by_status() == {"received": 1}


def test_same_key_other_body_conflicts(any_store: TicketStore) -> None:
    first = accept(any_store, BODY, "k1")
    with pytest.raises(IdempotencyConflict) as conflict:
        accept(any_store, {**BODY, "description": "something else"}, "k1")
    assert conflict.value.ticket_id == first.ticket.id
    assert any_store.count_by_status() == {"received": 1}


def test_keys_are_scoped_to_the_source(any_store: TicketStore) -> None:
    body = TicketSubmission.model_validate(BODY)
    one = any_store.accept(body, source="zendesk", idempotency_key="k", payload_hash="h")
    two = any_store.accept(body, source="intercom", idempotency_key="k", payload_hash="h")
    assert one.ticket.id != two.ticket.id


def test_move_only_from_the_expected_state(any_store: TicketStore) -> None:
    ticket_id = submit(any_store)
    with any_store.transaction() as session:
        assert any_store.move(
            session, ticket_id, expected=TicketStatus.received, values={"status": "classified"}
        )
        append_audit(session, ticket_id, Stage.classify, "classified")
    with any_store.transaction() as session:
        assert not any_store.move(
            session, ticket_id, expected=TicketStatus.received, values={"status": "failed"}
        )
    assert any_store.get(ticket_id).status == "classified"


def test_a_move_the_lifecycle_forbids_raises_before_any_write(any_store: TicketStore) -> None:
    ticket_id = submit(any_store)
    with pytest.raises(IllegalMove), any_store.transaction() as session:
        any_store.move(
            session, ticket_id, expected=TicketStatus.received, values={"status": "done"}
        )
    with pytest.raises(IllegalMove), any_store.transaction() as session:
        any_store.move(
            session,
            ticket_id,
            expected=TicketStatus.received,
            values={"status": "classified"},
            operation=Move.route,
        )
    assert any_store.get(ticket_id).status == "received"


def test_a_failed_transaction_keeps_neither_state_nor_event(any_store: TicketStore) -> None:
    ticket_id = submit(any_store)
    with pytest.raises(RuntimeError), any_store.transaction() as session:
        any_store.move(
            session, ticket_id, expected=TicketStatus.received, values={"status": "classified"}
        )
        append_audit(session, ticket_id, Stage.classify, "classified")
        raise RuntimeError("crash between the two writes")
    assert any_store.get(ticket_id).status == "received"
    assert len(any_store.audit_trail(ticket_id)) == 1


def test_unknown_ticket_raises_not_found(any_store: TicketStore) -> None:
    with pytest.raises(TicketNotFound):
        any_store.get("nope")
    with pytest.raises(TicketNotFound):
        any_store.audit_trail("nope")


def test_list_tickets_pages_by_cursor(any_store: TicketStore) -> None:
    ids = {submit(any_store, external_id=f"e{i}") for i in range(5)}
    first = any_store.list_tickets(status="received", limit=3)
    rest = any_store.list_tickets(status="received", after_id=first[-1].id, limit=3)
    assert len(first) == 3 and len(rest) == 2
    assert {t.id for t in first + rest} == ids
    assert any_store.list_tickets(status="failed") == []
