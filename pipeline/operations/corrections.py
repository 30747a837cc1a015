"""A person's correction of a ticket's category: a training label, and a re-route if needed."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.domain.errors import TriageError
from pipeline.domain.lifecycle import FINAL_STATUSES, Stage, TicketStatus
from pipeline.domain.routing import RoutingTable
from pipeline.operations.replay import TicketBusy
from pipeline.store.tickets import TicketStore, append_audit


class UnknownCategory(TriageError):
    """The category is not in the routing file."""


@dataclass(frozen=True)
class Correction:
    """What a correction changed."""

    ticket_id: str
    previous_category: str | None
    category: str
    previous_department: str | None
    department: str
    rerouted: bool


def correct_category(
    store: TicketStore, routing: RoutingTable, ticket_id: str, category: str, *, actor: str
) -> Correction:
    """Record the person's category; send the ticket to the new department if it changes.

    The correction is also the ticket's known label, so `triage train --from-store` learns it.
    """
    rule = routing.categories.get(category)
    if rule is None:
        raise UnknownCategory(f"unknown category {category!r}")
    ticket = store.get(ticket_id)
    if TicketStatus(ticket.status) not in FINAL_STATUSES:
        raise TicketBusy(f"ticket {ticket_id} is {ticket.status}; correct it once it is final")
    rerouted = rule.department != ticket.department
    values: dict[str, object] = {
        "category": category,
        "confidence": 1.0,
        "classifier": "person",
        "model": actor[:128],
        "reason": "category set by a person",
        "known_category": category,
        "review_reason": None,
    }
    if rerouted:
        # A new generation: the new department accepts it, redeliveries of the old one drop.
        values |= {
            "status": TicketStatus.classified.value,
            "generation": ticket.generation + 1,
            "finished_at": None,
            "failed_stage": None,
            "last_error": None,
        }
    with store.transaction() as session:
        if not store.move(session, ticket_id, expected=TicketStatus(ticket.status), values=values):
            raise TicketBusy(f"ticket {ticket_id} changed meanwhile; try again")
        append_audit(
            session,
            ticket_id,
            Stage.classify,
            "corrected",
            {
                "from": ticket.category,
                "to": category,
                "by": actor,
                "rerouted": rerouted,
                "department": rule.department,
            },
        )
    return Correction(
        ticket_id, ticket.category, category, ticket.department, rule.department, rerouted
    )
