"""Purge and erasure remove text and PII but keep the skeleton and a tombstone."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pipeline.domain.lifecycle import TicketStatus
from pipeline.domain.operator import ERASED
from pipeline.operations.retention import Erasure, erase_customer, purge_before
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

    assert erase_customer(any_store, "cus_1", actor="key:admin") == Erasure(1, complete=True)
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
    assert erase_customer(any_store, "cus_1", actor="key:admin") == Erasure(0, True)  # idempotent


def test_purge_only_touches_finished_tickets_before_the_date(any_store: TicketStore) -> None:
    old_done = submit(any_store, subject="a")
    in_flight = submit(any_store, subject="b")
    finish(any_store, old_done)
    assert purge_before(any_store, utcnow() + timedelta(seconds=1), actor="cli") == 1
    assert any_store.get(old_done).description == ERASED
    assert any_store.get(in_flight).subject == "b"
    assert purge_before(any_store, utcnow() - timedelta(days=1), actor="cli") == 0


# Every value the system itself writes where a selection reads: the erasure marker, and the
# tokens PII masking leaves in text (a producer may well send them as a customer id).
SYSTEM_WRITTEN = [ERASED, "[email]", "[phone]", "[card]", "[iban]", "[address]", "[name]"]


@pytest.mark.parametrize("customer_id", SYSTEM_WRITTEN)
def test_erasing_a_value_the_erasure_writes_ends(any_store: TicketStore, customer_id: str) -> None:
    earlier = submit(any_store, customer_id="cus_gone", subject="old")
    erase_customer(any_store, "cus_gone", actor="key:admin")  # leaves customer_id == [erased]
    theirs = [submit(any_store, customer_id=customer_id, subject=f"s{i}") for i in range(3)]
    trail_before = len(any_store.audit_trail(earlier))

    # Before the fix, erasing ERASED selected the rows it had just written, forever.
    assert erase_customer(any_store, customer_id, actor="key:admin") == Erasure(3, True)
    assert {any_store.get(t).subject for t in theirs} == {ERASED}
    assert len(any_store.audit_trail(earlier)) == trail_before  # tombstones are not re-erased
    assert erase_customer(any_store, customer_id, actor="key:admin") == Erasure(0, True)


def test_an_erasure_stops_at_its_budget_and_goes_on_when_called_again(
    any_store: TicketStore,
) -> None:
    ids = [submit(any_store, customer_id=ERASED, subject=f"s{i}") for i in range(5)]
    assert erase_customer(any_store, ERASED, actor="a", budget=2) == Erasure(2, complete=False)
    assert sum(any_store.get(t).subject == ERASED for t in ids) == 2
    assert erase_customer(any_store, ERASED, actor="a", budget=2) == Erasure(2, complete=False)
    assert erase_customer(any_store, ERASED, actor="a", budget=2) == Erasure(1, complete=True)
    assert {any_store.get(t).subject for t in ids} == {ERASED}
    assert all(len([e for e in any_store.audit_trail(t) if e.event == "erased"]) == 1 for t in ids)


def test_purge_ends_on_text_that_reads_like_the_marker(any_store: TicketStore) -> None:
    looks_purged = submit(any_store, subject="s", description=ERASED)
    finish(any_store, looks_purged)
    assert purge_before(any_store, utcnow() + timedelta(seconds=1), actor="cli") == 1
    assert any_store.get(looks_purged).subject == ERASED  # the subject went too
    assert purge_before(any_store, utcnow() + timedelta(seconds=1), actor="cli") == 0
