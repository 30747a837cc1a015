"""What a helpdesk fetch writes on a ticket and keeps in its trail (never the ticket's text)."""

from __future__ import annotations

from pipeline.ports import FetchedTicket
from pipeline.store.fields import fetched_detail, fetched_fields


def test_a_fetch_is_audited_by_connector_and_field_names_only() -> None:
    fetched = FetchedTicket(
        "Parcel",
        "It never came",
        "cus_1",
        priority="high",
        extra={"helpdesk": {"connector": "zendesk", "id": 42}},
    )
    assert fetched_detail(fetched) == {
        "connector": "zendesk",
        "fields": ["customer_id", "description", "extra", "priority", "subject"],
    }
    assert fetched_fields(fetched)["priority"] == "high"


def test_without_a_helpdesk_block_the_connector_is_unknown() -> None:
    plain = FetchedTicket("s", "d", "c")
    assert fetched_detail(plain) == {
        "connector": None,
        "fields": ["customer_id", "description", "extra", "subject"],
    }
    odd = FetchedTicket("s", "d", "c", extra={"helpdesk": "zendesk"})
    assert fetched_detail(odd)["connector"] is None
