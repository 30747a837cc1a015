"""A person's correction of a ticket's category: a training label, and a re-route if needed."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.domain.changes import CategoryCorrection
from pipeline.domain.errors import TriageError
from pipeline.domain.lifecycle import FINAL_STATUSES, TicketStatus
from pipeline.domain.routing import RoutingTable
from pipeline.operations.replay import TicketBusy
from pipeline.ports import TicketRepository


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
    store: TicketRepository, routing: RoutingTable, ticket_id: str, category: str, *, actor: str
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
    correction = CategoryCorrection(
        ticket_id,
        TicketStatus(ticket.status),
        ticket.category,
        category,
        rule.department,
        rerouted,
        # A new generation: the new department accepts it, redeliveries of the old one drop.
        ticket.generation + 1 if rerouted else ticket.generation,
        actor,
    )
    if not store.correct(correction):
        raise TicketBusy(f"ticket {ticket_id} changed meanwhile; try again")
    return Correction(
        ticket_id, ticket.category, category, ticket.department, rule.department, rerouted
    )
