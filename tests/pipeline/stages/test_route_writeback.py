"""The route stage with helpdesk targets: the write-back is a delivery of its own, per target."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline.adapters.http_delivery import InMemoryDepartmentClient
from pipeline.domain.errors import DepartmentUnavailable
from pipeline.domain.lifecycle import TicketStatus
from pipeline.domain.routing import RoutingTable, parse_routing
from pipeline.domain.writeback import HelpdeskRejected
from pipeline.helpdesks.zendesk import ZendeskWriter
from pipeline.operations.corrections import correct_category
from pipeline.ports import TicketRepository
from pipeline.stages.audit import close_ticket
from pipeline.stages.route import route_ticket
from pipeline.testing.helpdesk_stubs import ZendeskStub
from tests.conftest import EXAMPLE_ROUTING, submit
from tests.support.tickets import force_status

WRITEBACK = """
[departments.finance.zendesk]
group_id = 360001
tags = ["triage-billing"]
custom_fields = { 360005 = "finance" }
[departments.sales.zendesk]
group_id = 360002
tags = ["triage-sales"]
[writeback.zendesk]
sentiments = { very_negative = "angry-customer" }
review = { group_id = 360009, tags = ["triage-review"] }
"""


def _routing() -> RoutingTable:
    return parse_routing(EXAMPLE_ROUTING.read_text() + WRITEBACK, ".toml")


ROUTING = _routing()


@pytest.fixture
def zendesk() -> Iterator[ZendeskStub]:
    stub = ZendeskStub().start()
    yield stub
    stub.stop()


def _route(store: TicketRepository, stub: ZendeskStub, ticket_id: str, departments=None):  # type: ignore[no-untyped-def]
    writer = ZendeskWriter(stub.url, "agent@example.com", "zd-token")
    return route_ticket(
        store,
        ROUTING,
        departments or InMemoryDepartmentClient(),
        ticket_id,
        confidence_threshold=0.55,
        writers={"zendesk": writer},
    )


def _from_zendesk(store: TicketRepository, confidence: float = 0.9, **fields: object) -> str:
    ticket_id = submit(store)
    values: dict[str, object] = {
        "connector": "zendesk",
        "external_id": "35436",
        "category": "billing",
        "urgency": "critical",
        "sentiment": "very_negative",
        "confidence": confidence,
        "classifier": "scripted",
        "model": "m",
    }
    force_status(store, ticket_id, TicketStatus.classified, **{**values, **fields})  # type: ignore[arg-type]
    return ticket_id


def test_a_zendesk_ticket_gets_group_tags_priority_and_fields(
    store: TicketRepository, zendesk: ZendeskStub
) -> None:
    ticket_id = _from_zendesk(store)
    departments = InMemoryDepartmentClient()
    _route(store, zendesk, ticket_id, departments)

    assert zendesk.problems == []
    assert zendesk.recorded()[0].body == {
        "ticket": {
            "group_id": 360001,
            "additional_tags": ["triage-billing", "angry-customer"],
            "priority": "urgent",
            "custom_fields": [{"id": 360005, "value": "finance"}],
        }
    }
    assert len(departments.received) == 1  # the endpoint too: each target is a delivery
    _, deliveries = store.get_with_deliveries(ticket_id)
    assert {key: d.status for key, d in deliveries.items()} == {
        ("finance", "http"): "delivered",
        ("finance", "zendesk"): "delivered",
    }
    written = deliveries["finance", "zendesk"]
    assert written.response_status == 200 and '"group_id": 360001' in (written.response_body or "")
    assert "zd-token" not in (written.endpoint or "")
    routed = store.audit_trail(ticket_id)[-1]
    assert (routed.event, routed.detail["written_back"]) == ("delivered", ["zendesk"])


def test_an_api_ticket_is_not_written_back(store: TicketRepository, zendesk: ZendeskStub) -> None:
    ticket_id = _from_zendesk(store, connector=None)
    _route(store, zendesk, ticket_id)
    assert zendesk.recorded() == []
    assert set(store.get_with_deliveries(ticket_id)[1]) == {("finance", "http")}


def test_a_redelivered_route_never_writes_the_same_generation_twice(
    store: TicketRepository, zendesk: ZendeskStub
) -> None:
    ticket_id = _from_zendesk(store)
    down = InMemoryDepartmentClient(responses=[503])
    with pytest.raises(DepartmentUnavailable):
        _route(store, zendesk, ticket_id, down)  # written back, then the endpoint is down
    _route(store, zendesk, ticket_id, down)

    assert len(zendesk.recorded()) == 1
    assert store.get(ticket_id).status == TicketStatus.routed
    assert store.get_with_deliveries(ticket_id)[1]["finance", "zendesk"].attempts == 1


def test_a_refused_write_back_fails_with_the_helpdesks_error(
    store: TicketRepository, zendesk: ZendeskStub
) -> None:
    ticket_id = _from_zendesk(store)
    zendesk.enqueue(zendesk.invalid("Group: is not a member"))
    with pytest.raises(HelpdeskRejected) as raised:
        _route(store, zendesk, ticket_id)

    assert "RecordInvalid" in str(raised.value)
    record = store.get_with_deliveries(ticket_id)[1]["finance", "zendesk"]
    assert (record.status, record.response_status) == ("rejected", 422)
    assert "Group: is not a member" in (record.response_body or "")
    assert "RecordInvalid" in (record.last_error or "")


def test_review_then_a_correction_writes_back_again_in_generation_2(
    store: TicketRepository, zendesk: ZendeskStub
) -> None:
    ticket_id = _from_zendesk(store, confidence=0.2)  # unsure: goes to review
    _route(store, zendesk, ticket_id)
    close_ticket(store, ticket_id)
    assert store.get(ticket_id).status == TicketStatus.needs_review
    review = zendesk.recorded()[0].body["ticket"]
    assert (review["group_id"], review["additional_tags"][0]) == (360009, "triage-review")

    correct_category(store, ROUTING, ticket_id, "sales", actor="key:admin")
    _route(store, zendesk, ticket_id)

    second = zendesk.recorded()[1].body["ticket"]
    assert (second["group_id"], second["additional_tags"][0]) == (360002, "triage-sales")
    generations = {(d.department, d.target, d.generation) for d in store.deliveries(ticket_id)}
    assert {("review", "zendesk", 1), ("sales", "zendesk", 2)} <= generations


def test_routing_file_errors_name_the_key() -> None:
    from pipeline.domain.errors import ConfigurationError

    text = EXAMPLE_ROUTING.read_text() + '[departments.finance.zendesk]\ngroup_id = "x"\n'
    with pytest.raises(ConfigurationError, match=r"departments\.finance\.zendesk\.group_id"):
        parse_routing(text, ".toml")
    intercom = EXAMPLE_ROUTING.read_text() + '[departments.finance.intercom]\nteam_id = "5"\n'
    with pytest.raises(ConfigurationError, match=r"writeback\.intercom\.admin_id"):
        parse_routing(intercom, ".toml")
