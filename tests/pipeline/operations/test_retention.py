"""Purge and erasure remove text and PII but keep the skeleton and a tombstone."""

from __future__ import annotations

from datetime import timedelta

from pipeline.domain.lifecycle import TicketStatus
from pipeline.domain.operator import ERASED
from pipeline.operations.retention import erase_customer, purge_before
from pipeline.store.schema import utcnow
from pipeline.store.tickets import TicketStore
from tests.conftest import submit


def finish(store: TicketStore, ticket_id: str) -> None:
    store.overwrite_for_tests(ticket_id, status=TicketStatus.done.value, category="billing")


def test_erase_customer_blanks_text_and_leaves_a_tombstone(any_store: TicketStore) -> None:
    mine = submit(
        any_store,
        customer_id="cus_1",
        description="call me at +44 20 7946 0000",
        helpdesk_note="vip",
    )
    other = submit(any_store, customer_id="cus_2", subject="Other")
    finish(any_store, mine)

    assert erase_customer(any_store, "cus_1", actor="key:admin") == 1
    ticket = any_store.get(mine)
    assert (ticket.description, ticket.subject, ticket.customer_id, ticket.extra) == (
        ERASED,
        ERASED,
        ERASED,
        {},
    )
    assert (ticket.status, ticket.category) == ("done", "billing")  # the skeleton stays
    tombstone = any_store.audit_trail(mine)[-1]
    assert (tombstone.event, tombstone.detail) == ("erased", {"by": "key:admin"})
    assert "7946" not in str([e.detail for e in any_store.audit_trail(mine)])
    assert any_store.get(other).subject == "Other"
    assert erase_customer(any_store, "cus_1", actor="key:admin") == 0  # idempotent


def test_purge_only_touches_finished_tickets_before_the_date(any_store: TicketStore) -> None:
    old_done = submit(any_store, subject="a")
    in_flight = submit(any_store, subject="b")
    finish(any_store, old_done)
    assert purge_before(any_store, utcnow() + timedelta(seconds=1), actor="cli") == 1
    assert any_store.get(old_done).description == ERASED
    assert any_store.get(in_flight).subject == "b"
    assert purge_before(any_store, utcnow() - timedelta(days=1), actor="cli") == 0
