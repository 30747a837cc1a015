"""Sentiment through the stages: stored, audited, delivered, and routed by a rule."""

from __future__ import annotations

import json

from pipeline.adapters.http_delivery import InMemoryDepartmentClient
from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.classification import Alternative, Classification, Sentiment, Urgency
from pipeline.domain.routing import parse_routing
from pipeline.ports import TicketRepository
from pipeline.stages.audit import close_ticket
from pipeline.stages.classify import classify_ticket
from pipeline.stages.route import route_ticket
from tests.conftest import submit

ROUTING = parse_routing(
    """
[[rules]]
name = "angry customers"
when = { sentiment = ["very_negative"] }
department = "escalations"
[categories.billing]
description = "Invoices"
department = "finance"
[departments.finance]
endpoint = "http://127.0.0.1:9/finance"
[departments.escalations]
endpoint = "http://127.0.0.1:9/escalations"
[departments.review]
""",
    ".toml",
)


def angry(_ticket: object) -> Classification:
    return Classification(
        category="billing",
        urgency=Urgency.high,
        urgency_confidence=0.7,
        sentiment=Sentiment.very_negative,
        sentiment_confidence=0.85,
        language="en",
        confidence=0.9,
        classifier="scripted",
        model="scripted-1",
        alternatives=(Alternative(category="refund", score=0.06),),
    )


def test_a_very_negative_ticket_is_stored_audited_and_escalated(
    store: TicketRepository,
) -> None:
    departments = InMemoryDepartmentClient()
    ticket_id = submit(store, description="Charged twice, this is unacceptable")
    classify_ticket(store, ScriptedClassifier(default=angry), ticket_id)
    route_ticket(store, ROUTING, departments, ticket_id, confidence_threshold=0.55)
    close_ticket(store, ticket_id)

    ticket = store.get(ticket_id)
    assert (ticket.sentiment, ticket.sentiment_confidence, ticket.urgency_confidence) == (
        "very_negative",
        0.85,
        0.7,
    )
    assert (ticket.status, ticket.department) == ("done", "escalations")
    kept = ticket.classification()
    assert kept is not None and kept.sentiment is Sentiment.very_negative
    trail = {e.event: e.detail for e in store.audit_trail(ticket_id)}
    assert trail["classified"]["sentiment"] == "very_negative"
    assert trail["classified"]["sentiment_confidence"] == 0.85
    assert trail["classified"]["alternatives"] == [{"category": "refund", "score": 0.06}]
    assert "angry customers" in json.dumps(trail["delivered"])
    [sent] = departments.received
    assert sent.endpoint.endswith("/escalations")
    assert json.loads(sent.body)["classification"]["sentiment"] == "very_negative"
