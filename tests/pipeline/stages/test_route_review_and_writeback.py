"""Where the route stage sends a ticket, and what it writes back to the helpdesk it came from.

A rule on the ticket's source sees the source; a fallback decision goes to review whatever its
label; a classified ticket with no decision fails naming the ticket. A helpdesk ticket is written
back only when there is a target and something to write: any one of group, tags, assignees,
priority or fields is enough; a ticket from a helpdesk we cannot write to (email), without the
helpdesk's id, or routed to a department with no target for it, is delivered and not written.
"""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.adapters.http_delivery import InMemoryDepartmentClient
from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.errors import PermanentError
from pipeline.domain.lifecycle import TicketStatus
from pipeline.domain.routing import RoutingTable, parse_routing
from pipeline.domain.writeback import WritebackRequest
from pipeline.ports import TicketRepository, WritebackReceipt
from pipeline.stages.classify import classify_ticket
from pipeline.stages.outcome import StageOutcome
from pipeline.stages.route import route_ticket
from tests.conftest import decision, submit
from tests.support.tickets import force_status

FINANCE = "http://127.0.0.1:9100/departments/finance"
BASE = f"""
review_department = "review"
[categories.billing]
description = "Invoices and charges"
department = "finance"
[categories.shipping]
description = "Parcels and tracking"
department = "logistics"
[departments.finance]
endpoint = "{FINANCE}"
[departments.logistics]
endpoint = "http://127.0.0.1:9100/departments/logistics"
[departments.review]
endpoint = "http://127.0.0.1:9100/departments/review"
"""


def routing(extra: str = "", base: str = BASE) -> RoutingTable:
    """The small routing file above, with `extra` TOML appended."""
    return parse_routing(base + extra, ".toml")


class RecordingWriter:
    """A helpdesk that accepts every write-back and remembers what it was asked to write."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.writes: list[WritebackRequest] = []

    def endpoint(self, request: WritebackRequest) -> str:
        return f"https://{self.name}.example/tickets/{request.ticket_ref}"

    def write_back(self, request: WritebackRequest) -> WritebackReceipt:
        self.writes.append(request)
        return WritebackReceipt(200, 0.0, "{}")


def classified_from(
    store: TicketRepository, connector: str | None, external_id: str | None, **fields: Any
) -> str:
    """A ticket a helpdesk sent, classified as confident, normal-urgency billing."""
    ticket_id = submit(store)
    values: dict[str, Any] = {
        "connector": connector,
        "external_id": external_id,
        "category": "billing",
        "urgency": "normal",
        "sentiment": "neutral",
        "confidence": 0.9,
        "classifier": "scripted",
        "model": "m",
    }
    force_status(store, ticket_id, TicketStatus.classified, **{**values, **fields})
    return ticket_id


def route(
    store: TicketRepository,
    table: RoutingTable,
    ticket_id: str,
    writers: dict[str, RecordingWriter] | None = None,
    departments: InMemoryDepartmentClient | None = None,
) -> StageOutcome:
    return route_ticket(
        store,
        table,
        departments or InMemoryDepartmentClient(),
        ticket_id,
        confidence_threshold=0.55,
        writers=writers or {},
    )


def routed_detail(store: TicketRepository, ticket_id: str) -> dict[str, Any]:
    event = store.audit_trail(ticket_id)[-1]
    assert event.stage == "route"
    return event.detail


# --- where the ticket goes -------------------------------------------------------------------


def test_a_classified_ticket_without_a_decision_fails_naming_the_ticket(
    store: TicketRepository,
) -> None:
    ticket_id = submit(store)
    force_status(store, ticket_id, TicketStatus.classified)  # no category, no confidence
    departments = InMemoryDepartmentClient()
    with pytest.raises(PermanentError) as raised:
        route(store, routing(), ticket_id, departments=departments)
    assert str(raised.value) == f"ticket {ticket_id} is classified but has no decision recorded"
    assert departments.received == []


def test_a_rule_on_the_source_routes_by_where_the_ticket_came_from(
    store: TicketRepository,
) -> None:
    table = routing(
        '[[rules]]\nname = "api tickets"\nwhen = { source = ["api"] }\ndepartment = "logistics"\n'
    )
    ticket_id = classified_from(store, None, None)  # `submit` accepts from source "api"
    route(store, table, ticket_id)
    detail = routed_detail(store, ticket_id)
    assert detail["department"] == "logistics"
    assert detail["reason"] == "api tickets (source api) routes to 'logistics'"


def test_a_fallback_decision_goes_to_review_whatever_its_category(
    store: TicketRepository,
) -> None:
    ticket_id = submit(store)
    sure = ScriptedClassifier(default=decision("billing", 0.95))
    classify_ticket(store, sure, ticket_id, review_reason="gemini unavailable: local fallback")
    departments = InMemoryDepartmentClient()
    outcome = route(store, routing(), ticket_id, departments=departments)

    assert outcome.result == "routed to review"
    [sent] = departments.received
    assert sent.endpoint == "http://127.0.0.1:9100/departments/review"
    detail = routed_detail(store, ticket_id)
    assert (detail["department"], detail["needs_review"]) == ("review", True)
    assert detail["reason"] == "gemini unavailable: local fallback"


def test_an_unsure_fallback_decision_keeps_the_routings_own_reason(
    store: TicketRepository,
) -> None:
    ticket_id = submit(store)
    unsure = ScriptedClassifier(default=decision("billing", 0.2))
    classify_ticket(store, unsure, ticket_id, review_reason="gemini unavailable: local fallback")
    route(store, routing(), ticket_id)
    detail = routed_detail(store, ticket_id)
    assert (detail["department"], detail["needs_review"]) == ("review", True)
    assert detail["reason"] == "confidence 0.20 below threshold 0.55"


# --- when the decision is written back -------------------------------------------------------


def test_a_ticket_from_email_is_delivered_and_not_written_back(store: TicketRepository) -> None:
    table = routing("[departments.finance.zendesk]\ngroup_id = 7\n")
    zendesk = RecordingWriter("zendesk")
    ticket_id = classified_from(store, "email", "<msg-1@mail.example>")
    departments = InMemoryDepartmentClient()
    route(store, table, ticket_id, {"zendesk": zendesk}, departments)

    assert zendesk.writes == []
    assert len(departments.received) == 1
    assert routed_detail(store, ticket_id)["written_back"] == []
    assert set(store.get_with_deliveries(ticket_id)[1]) == {("finance", "http")}


def test_a_department_without_a_target_for_the_helpdesk_writes_nothing_back(
    store: TicketRepository,
) -> None:
    table = routing("[departments.finance.zendesk]\ngroup_id = 7\n")
    zendesk = RecordingWriter("zendesk")
    ticket_id = classified_from(store, "zendesk", "35436", category="shipping")
    route(store, table, ticket_id, {"zendesk": zendesk})

    assert zendesk.writes == []
    detail = routed_detail(store, ticket_id)
    assert (detail["department"], detail["written_back"]) == ("logistics", [])


def test_an_unsure_ticket_without_any_review_target_writes_nothing_back(
    store: TicketRepository,
) -> None:
    table = routing("[departments.finance.zendesk]\ngroup_id = 7\n")
    zendesk = RecordingWriter("zendesk")
    ticket_id = classified_from(store, "zendesk", "35436", confidence=0.2)
    route(store, table, ticket_id, {"zendesk": zendesk})
    assert zendesk.writes == []
    assert routed_detail(store, ticket_id)["written_back"] == []


def test_the_review_target_wins_over_the_review_departments_own(
    store: TicketRepository,
) -> None:
    table = routing(
        "[departments.review.zendesk]\ngroup_id = 1\n"
        "[writeback.zendesk]\nreview = { group_id = 9 }\n"
    )
    zendesk = RecordingWriter("zendesk")
    ticket_id = classified_from(store, "zendesk", "35436", confidence=0.2)
    route(store, table, ticket_id, {"zendesk": zendesk})

    [written] = zendesk.writes
    assert (written.group_id, written.needs_review) == (9, True)
    assert routed_detail(store, ticket_id)["written_back"] == ["zendesk"]


def test_a_helpdesk_ticket_without_the_helpdesks_id_is_not_written_back(
    store: TicketRepository,
) -> None:
    table = routing("[departments.finance.zendesk]\ngroup_id = 7\n")
    zendesk = RecordingWriter("zendesk")
    ticket_id = classified_from(store, "zendesk", None)
    departments = InMemoryDepartmentClient()
    route(store, table, ticket_id, {"zendesk": zendesk}, departments)

    assert zendesk.writes == []
    assert len(departments.received) == 1
    assert routed_detail(store, ticket_id)["written_back"] == []


def test_a_target_with_nothing_to_write_writes_nothing(store: TicketRepository) -> None:
    table = routing("[departments.finance.zendesk]\n[writeback.zendesk]\npriorities = {}\n")
    zendesk = RecordingWriter("zendesk")
    ticket_id = classified_from(store, "zendesk", "35436")
    route(store, table, ticket_id, {"zendesk": zendesk})
    assert zendesk.writes == []
    assert routed_detail(store, ticket_id)["written_back"] == []


NO_PRIORITY = "[writeback.zendesk]\npriorities = {}\n"


@pytest.mark.parametrize(
    ("helpdesk", "external_id", "extra", "expected"),
    [
        pytest.param(
            "zendesk",
            "35436",
            "[departments.finance.zendesk]\ngroup_id = 7\n" + NO_PRIORITY,
            {"group_id": 7},
            id="group only",
        ),
        pytest.param(
            "zendesk",
            "35436",
            '[departments.finance.zendesk]\ntags = ["triage-billing"]\n' + NO_PRIORITY,
            {"tags": ("triage-billing",)},
            id="tags only",
        ),
        pytest.param(
            "github",
            "acme/shop#12",
            '[departments.finance.github]\nassignees = ["octocat"]\n',
            {"assignees": ("octocat",)},
            id="assignees only",
        ),
        pytest.param(
            "zendesk",
            "35436",
            "[departments.finance.zendesk]\n",
            {"priority": "normal"},
            id="priority only",
        ),
        pytest.param(
            "zendesk",
            "35436",
            '[departments.finance.zendesk]\ncustom_fields = { 360005 = "finance" }\n' + NO_PRIORITY,
            {"fields": {"360005": "finance"}},
            id="fields only",
        ),
    ],
)
def test_any_one_thing_to_write_is_written_back(
    store: TicketRepository,
    helpdesk: str,
    external_id: str,
    extra: str,
    expected: dict[str, Any],
) -> None:
    writer = RecordingWriter(helpdesk)
    ticket_id = classified_from(store, helpdesk, external_id)
    route(store, routing(extra), ticket_id, {helpdesk: writer})

    [written] = writer.writes
    empty: dict[str, Any] = {
        "group_id": None,
        "tags": (),
        "assignees": (),
        "priority": None,
        "fields": {},
    }
    assert {name: getattr(written, name) for name in empty} == {**empty, **expected}
    assert written.ticket_ref == external_id
    assert routed_detail(store, ticket_id)["written_back"] == [helpdesk]
    record = store.get_with_deliveries(ticket_id)[1]["finance", helpdesk]
    assert record.status == "delivered"


def test_a_department_without_an_endpoint_still_reports_its_write_back(
    store: TicketRepository,
) -> None:
    no_endpoint = BASE.replace(f'endpoint = "{FINANCE}"\n', "")
    table = routing("[departments.finance.zendesk]\ngroup_id = 7\n", base=no_endpoint)
    zendesk = RecordingWriter("zendesk")
    ticket_id = classified_from(store, "zendesk", "35436")
    departments = InMemoryDepartmentClient()
    route(store, table, ticket_id, {"zendesk": zendesk}, departments)

    assert departments.received == []
    assert len(zendesk.writes) == 1
    event = store.audit_trail(ticket_id)[-1]
    assert event.event == "delivered"  # the helpdesk got the decision
    assert (event.detail["destination"], event.detail["written_back"]) == (None, ["zendesk"])
