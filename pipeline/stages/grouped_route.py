"""The grouped route stage (backfills): a group's departments chosen and recorded in one go.

Only tickets that are not to be delivered (a backfill without --deliver) are routed here:
nothing leaves the process, so the whole group is one transaction. A ticket to deliver goes
the single route stage (its POST, write-back, breaker and retries are per ticket).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pipeline.domain.changes import DeliveryStatus, RoutedTicket
from pipeline.domain.classification import Classification
from pipeline.domain.errors import PermanentError, describe_error
from pipeline.domain.lifecycle import Stage, TicketStatus
from pipeline.domain.models import TicketRecord
from pipeline.domain.routing import RoutingTable, route_classified
from pipeline.ports import GroupedTransitions, TicketRepository


@dataclass(frozen=True)
class GroupRouting:
    """What routing a group did: routed here, left to the single route stage, failed."""

    routed: list[str]
    alone: list[str]
    failed: list[str] = field(default_factory=list)


def route_group(
    store: TicketRepository,
    grouped: GroupedTransitions,
    routing: RoutingTable,
    ticket_ids: Sequence[str],
    *,
    confidence_threshold: float,
    attempt: int = 1,
    classified: Sequence[tuple[TicketRecord, Classification | None]] | None = None,
) -> GroupRouting:
    """Record the routing of every `classified`, not-to-deliver ticket of the group at once.

    `classified`: the group's classified tickets (with the decision just recorded, if read
    before it) when the caller knows them; else they are read. A ticket whose routing cannot
    be decided (a permanent error) is failed on its own, with its error, replayable; the
    others of the group are routed.
    """
    if classified is None:
        read = grouped.tickets_among(ticket_ids, TicketStatus.classified)
        classified = [(ticket, None) for ticket in read]
    routed: list[RoutedTicket] = []
    alone: list[str] = []
    failed: list[str] = []
    for ticket, decided in classified:
        if ticket.deliver:
            alone.append(ticket.id)
            continue
        try:
            decision = route_classified(ticket, routing, confidence_threshold, decided)
        except (PermanentError, KeyError) as error:
            error_text = describe_error(error)
            if store.fail(
                ticket.id, Stage.route, error=error_text, permanent=True, attempt=attempt
            ):
                failed.append(ticket.id)
            continue
        routed.append(
            RoutedTicket(
                ticket.id,
                ticket.generation,
                decision.department,
                decision.endpoint,
                decision.needs_review,
                decision.reason,
                DeliveryStatus.recorded,
            )
        )
    moved = grouped.mark_routed_group(routed, attempt=attempt)
    return GroupRouting(moved, alone, failed)
