"""Zendesk events that carry only an id: the classify stage fetches the ticket from the API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline.adapters.zendesk_tickets import (
    TicketFetchFailed,
    TicketFetchRefused,
    ZendeskTicketFetcher,
)
from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.connectors import CONNECTORS, InboundTicket
from pipeline.domain.lifecycle import TicketStatus
from pipeline.domain.models import payload_fingerprint
from pipeline.stages.classify import classify_ticket
from pipeline.store.memory import InMemoryTicketRepository
from pipeline.testing.gemini_responses import StubResponse
from pipeline.testing.zendesk_tickets_stub import ZendeskTicketsStub
from tests.support.connectors import fixture

TICKET = {
    "subject": "Refund for a double charge",
    "description": "I was charged twice, please refund one payment.",
    "requester_id": 20978392,
    "priority": "urgent",
    "status": "new",
    "tags": ["billing"],
}


@pytest.fixture
def zendesk() -> Iterator[ZendeskTicketsStub]:
    stub = ZendeskTicketsStub().start()
    stub.tickets["35437"] = dict(TICKET)
    yield stub
    stub.stop()


@pytest.fixture
def fetcher(zendesk: ZendeskTicketsStub) -> Iterator[ZendeskTicketFetcher]:
    client = ZendeskTicketFetcher(zendesk.url, "agent@example.com", "zd-token", timeout_s=2)
    yield client
    client.close()


def test_fetch_reads_the_ticket_with_token_auth(
    fetcher: ZendeskTicketFetcher, zendesk: ZendeskTicketsStub
) -> None:
    fetched = fetcher.fetch("zendesk", "35437")
    assert (fetched.subject, fetched.customer_id, fetched.priority) == (
        "Refund for a double charge",
        "20978392",
        "urgent",
    )
    [request] = zendesk.recorded()
    assert (request.method, request.path) == ("GET", "/api/v2/tickets/35437.json")


def test_fetch_errors_retry_or_fail(
    fetcher: ZendeskTicketFetcher, zendesk: ZendeskTicketsStub
) -> None:
    zendesk.enqueue(StubResponse(429, {"error": "TooManyRequests"}, headers={"Retry-After": "7"}))
    with pytest.raises(TicketFetchFailed) as busy:
        fetcher.fetch("zendesk", "35437")
    assert busy.value.retry_after == 7.0
    with pytest.raises(TicketFetchRefused):
        fetcher.fetch("zendesk", "404404")
    wrong = ZendeskTicketFetcher(zendesk.url, "agent@example.com", "bad-token", timeout_s=2)
    with pytest.raises(TicketFetchRefused):
        wrong.fetch("zendesk", "35437")
    wrong.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_classify_fetches_an_id_only_ticket_before_classifying(
    kind: str,
    fetcher: ZendeskTicketFetcher,
    classifier: ScriptedClassifier,
    request: pytest.FixtureRequest,
) -> None:
    store = InMemoryTicketRepository() if kind == "memory" else request.getfixturevalue("store")
    headers, body = fixture("zendesk_event_created.json")
    event = CONNECTORS["zendesk"].parse(headers, body)
    assert isinstance(event, InboundTicket) and event.fetch
    accepted = store.accept(
        event.submission,
        source="zendesk",
        idempotency_key=event.submission.external_id,
        payload_hash=payload_fingerprint(event.submission.model_dump(mode="json")),
        connector="zendesk",
    )
    ticket_id = accepted.ticket.id
    classify_ticket(store, classifier, ticket_id, fetcher=fetcher)
    ticket = store.get(ticket_id)
    assert ticket.status == TicketStatus.classified
    assert (ticket.subject, ticket.customer_id, ticket.priority) == (
        "Refund for a double charge",
        "20978392",
        "urgent",
    )
    assert "fetch" not in ticket.extra["helpdesk"]
    assert ticket.extra["helpdesk"]["fetched"] == "zendesk"
    assert classifier.seen[-1].subject == "Refund for a double charge"
    events = [e.event for e in store.audit_trail(ticket_id)]
    assert events == ["received", "fetched", "classified"]
