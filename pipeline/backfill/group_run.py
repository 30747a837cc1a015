"""A backfill group through classify, route and audit: three bulk stages, one after another.

Each stage picks the group's tickets in its input state, so a redelivered group resumes where
it stopped, and each records its changes (with every ticket's audit event) in a transaction
of its own. What a stage cannot do in bulk goes the single path, ticket by ticket: tickets the
classifier left out (classify alone), tickets to deliver (route alone).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipeline.domain.lifecycle import TicketStatus
from pipeline.domain.routing import RoutingTable
from pipeline.ports import Classifier, GroupedTransitions, TicketRepository
from pipeline.stages.classify_group import classify_group_of_tickets
from pipeline.stages.grouped_audit import close_group
from pipeline.stages.grouped_route import route_group


@dataclass(frozen=True)
class GroupRun:
    """What one run of a group did, stage by stage."""

    size: int
    classified: int
    routed: int
    closed: int
    classify_alone: list[str]
    route_alone: list[str]
    failed: list[str]
    classifier_calls: int = 0

    def summary(self) -> str:
        """A short, PII-free result line."""
        return (
            f"backfill group of {self.size}: {self.classified} classified, {self.routed} routed, "
            f"{self.closed} closed; {len(self.classify_alone)} to classify alone, "
            f"{len(self.route_alone)} to route alone, {len(self.failed)} failed"
        )


def run_group(
    store: TicketRepository,
    grouped: GroupedTransitions,
    classifier: Classifier,
    routing: RoutingTable,
    ticket_ids: Sequence[str],
    *,
    confidence_threshold: float,
    chunk_size: int | None = None,
    attempt: int = 1,
    between_steps: Callable[[], object] | None = None,
) -> GroupRun:
    """Classify, route and close the group in bulk; the rest is left for the single path.

    `between_steps` runs before each classifier chunk after the first, before route and before
    audit: where the backfill's pace yields to live work.
    """
    step = between_steps or _no_pause
    ids = list(dict.fromkeys(ticket_ids))
    # One read of the group: each stage then works on the tickets in its input state.
    tickets = grouped.tickets_among(ids, None)
    received = [t for t in tickets if t.status == TicketStatus.received]
    classified = classify_group_of_tickets(
        store,
        classifier,
        ids,
        attempt=attempt,
        grouped=grouped,
        chunk_size=chunk_size,
        received=received,
        between_chunks=step,
    )
    decided = classified.decisions
    to_route = [
        (t, decided.get(t.id))
        for t in tickets
        if t.status == TicketStatus.classified or t.id in decided
    ]
    step()
    routed = route_group(
        store,
        grouped,
        routing,
        ids,
        confidence_threshold=confidence_threshold,
        attempt=attempt,
        classified=to_route,
    )
    step()
    closed = close_group(grouped, ids, attempt=attempt)
    return GroupRun(
        size=len(ids),
        classified=len(classified.classified),
        routed=len(routed.routed),
        closed=len(closed),
        classify_alone=classified.alone,
        route_alone=routed.alone,
        failed=routed.failed,
        classifier_calls=classified.calls,
    )


def _no_pause() -> None:
    return None
