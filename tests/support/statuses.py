"""A store with tickets in every state the status screen reports, through the real stages."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.adapters.http_delivery import InMemoryDepartmentClient
from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.errors import DeliveryRejected, DepartmentUnavailable
from pipeline.domain.lifecycle import Stage
from pipeline.domain.routing import load_routing
from pipeline.ports import TicketRepository
from pipeline.stages.audit import close_ticket
from pipeline.stages.classify import classify_ticket
from pipeline.stages.failures import fail_ticket, record_failed_attempt
from pipeline.stages.route import route_ticket
from tests.conftest import EXAMPLE_ROUTING, keyword_decision, submit

REFUSED = "connection refused by 127.0.0.1:9100"


@dataclass(frozen=True)
class Populated:
    """The ids of the tickets `populate` made, by what happened to them."""

    done: list[str]
    failed: str
    deferred: list[str]  # route failed; the next attempt is a next_attempt_at in the store
    countdown: str  # route failed with another error; the next attempt is a Celery countdown
    waiting: str  # received, never tried


def populate(store: TicketRepository) -> Populated:
    """3 done, 1 failed, 2 retrying a refused delivery (deferred), 1 retrying a 503, 1 new."""
    routing = load_routing(EXAMPLE_ROUTING)
    classifier = ScriptedClassifier(default=keyword_decision)
    done = []
    for i in range(3):
        ticket_id = submit(store, subject=f"t{i}")
        classify_ticket(store, classifier, ticket_id)
        route_ticket(
            store, routing, InMemoryDepartmentClient(), ticket_id, confidence_threshold=0.5
        )
        close_ticket(store, ticket_id)
        done.append(ticket_id)
    failed = submit(store, subject="f")
    fail_ticket(store, failed, Stage.classify, DeliveryRejected("department said 410"), attempt=1)
    deferred = []
    for i in range(2):
        ticket_id = submit(store, subject=f"r{i}")
        classify_ticket(store, classifier, ticket_id)
        record_failed_attempt(
            store,
            ticket_id,
            Stage.route,
            DepartmentUnavailable(REFUSED),
            attempt=1,
            retry_in_s=600,
            defer_in_store=True,
        )
        deferred.append(ticket_id)
    countdown = submit(store, subject="c")
    classify_ticket(store, classifier, countdown)
    record_failed_attempt(
        store, countdown, Stage.route, DepartmentUnavailable("503"), attempt=1, retry_in_s=5
    )
    waiting = submit(store, subject="waiting")
    return Populated(done, failed, deferred, countdown, waiting)
