"""A helpdesk write-back has a circuit of its own, and every attempt is on the record.

A helpdesk that is down opens `helpdesk:<name>` (not the department's circuit); one that
refuses the write is not down and counts no failure; each attempt keeps its endpoint and a
status a person can act on (pending: will retry; rejected: fix the routing file).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from pipeline.adapters.http_delivery import InMemoryDepartmentClient
from pipeline.domain.errors import ConfigurationError
from pipeline.domain.routing import RoutingDecision
from pipeline.domain.writeback import HelpdeskRejected, HelpdeskUnavailable
from pipeline.helpdesks.zendesk import ZendeskWriter
from pipeline.ports import TicketRepository
from pipeline.stages.route import delivery_body, route_ticket
from pipeline.testing.gemini_responses import StubResponse
from pipeline.testing.helpdesk_stubs import ZendeskStub
from tests.conftest import submit
from tests.pipeline.stages.test_route_writeback import ROUTING, _from_zendesk


class RecordingBreaker:
    """A closed breaker that remembers what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def check(self, department: str) -> None:
        self.calls.append(("check", department))

    def record_success(self, department: str) -> None:
        self.calls.append(("success", department))

    def record_failure(self, department: str) -> None:
        self.calls.append(("failure", department))

    def open_circuits(self) -> dict[str, float]:
        return {}

    def helpdesk(self) -> list[tuple[str, str]]:
        return [(what, name) for what, name in self.calls if not name.startswith("finance")]


@pytest.fixture
def stub() -> Iterator[ZendeskStub]:
    server = ZendeskStub().start()
    yield server
    server.stop()


def _route(store: TicketRepository, stub: ZendeskStub, ticket_id: str, breaker: RecordingBreaker):  # type: ignore[no-untyped-def]
    writer = ZendeskWriter(stub.url, "agent@example.com", "zd-token")
    return route_ticket(
        store,
        ROUTING,
        InMemoryDepartmentClient(),
        ticket_id,
        confidence_threshold=0.55,
        breaker=breaker,
        writers={"zendesk": writer},
    )


def test_a_write_back_checks_and_closes_the_helpdesks_circuit(
    store: TicketRepository, stub: ZendeskStub
) -> None:
    breaker = RecordingBreaker()
    _route(store, stub, _from_zendesk(store), breaker)
    assert breaker.helpdesk() == [("check", "helpdesk:zendesk"), ("success", "helpdesk:zendesk")]


def test_a_helpdesk_that_is_down_counts_a_failure_and_stays_pending(
    store: TicketRepository, stub: ZendeskStub
) -> None:
    ticket_id = _from_zendesk(store)
    stub.enqueue(StubResponse(503, {"error": "down"}))
    breaker = RecordingBreaker()
    with pytest.raises(HelpdeskUnavailable):
        _route(store, stub, ticket_id, breaker)
    assert breaker.helpdesk() == [("check", "helpdesk:zendesk"), ("failure", "helpdesk:zendesk")]
    record = store.get_with_deliveries(ticket_id)[1]["finance", "zendesk"]
    assert (record.status, record.response_status) == ("pending", 503)
    assert (record.endpoint or "").startswith(stub.url)


def test_a_refused_write_back_is_rejected_without_a_circuit_failure(
    store: TicketRepository, stub: ZendeskStub
) -> None:
    ticket_id = _from_zendesk(store)
    stub.enqueue(stub.invalid("Group: is not a member"))
    breaker = RecordingBreaker()
    with pytest.raises(HelpdeskRejected):
        _route(store, stub, ticket_id, breaker)
    assert breaker.helpdesk() == [("check", "helpdesk:zendesk")]
    record = store.get_with_deliveries(ticket_id)[1]["finance", "zendesk"]
    assert record.status == "rejected"
    assert (record.endpoint or "").startswith(stub.url)


def test_a_written_back_delivery_keeps_its_endpoint(
    store: TicketRepository, stub: ZendeskStub
) -> None:
    ticket_id = _from_zendesk(store)
    _route(store, stub, ticket_id, RecordingBreaker())
    record = store.get_with_deliveries(ticket_id)[1]["finance", "zendesk"]
    assert record.status == "delivered"
    assert (record.endpoint or "").startswith(stub.url)


def test_a_helpdesk_without_a_writer_names_the_settings_to_set(store: TicketRepository) -> None:
    ticket_id = _from_zendesk(store)
    with pytest.raises(
        ConfigurationError, match=re.escape("no zendesk writer: set TRIAGE_ZENDESK_*")
    ):
        route_ticket(
            store,
            ROUTING,
            InMemoryDepartmentClient(),
            ticket_id,
            confidence_threshold=0.55,
            writers={},
        )


def test_an_unclassified_ticket_is_delivered_with_no_classification(
    store: TicketRepository,
) -> None:
    ticket = store.get(submit(store))
    decision = RoutingDecision(
        department="people", endpoint=None, needs_review=True, reason="no category"
    )
    body = json.loads(delivery_body(ticket, decision))
    assert body["classification"] is None
    assert (body["department"], body["needs_review"]) == ("people", True)
