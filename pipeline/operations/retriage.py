"""Retriage: what the current classifier and routing file would change on stored tickets.

`plan_batch` is pure (tickets and the classifier's decisions in, proposed changes out);
`apply_change` writes one change as a new generation with its audit event, one transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from pipeline.domain.classification import Classification
from pipeline.domain.lifecycle import TicketStatus
from pipeline.domain.models import TicketRecord
from pipeline.domain.operator import ERASED
from pipeline.domain.routing import RoutingTable, choose_department
from pipeline.ports import Retriage, RetriageStore

SAMPLE_IDS = 3  # ticket ids shown per line of the diff
PERSON = "person"  # the classifier name of a person's correction: never overwritten


@dataclass(frozen=True)
class Proposal:
    """One ticket's new decision and where the routing file sends it."""

    ticket: TicketRecord
    decision: Classification
    department: str
    review_reason: str | None

    @property
    def status(self) -> TicketStatus:
        """The final status the new decision leads to."""
        return TicketStatus.needs_review if self.review_reason else TicketStatus.done

    def change(self, actor: str, *, deliver: bool) -> Retriage:
        """The store change that applies it."""
        t = self.ticket
        previous = {
            "category": t.category,
            "department": t.department,
            "status": t.status,
            "classifier": t.classifier,
            "model": t.model,
        }
        return Retriage(
            t.id,
            TicketStatus(t.status),
            t.generation,
            self.decision,
            self.department,
            self.review_reason,
            previous,
            actor,
            deliver,
        )


DiffKey = tuple[str | None, str, str | None, str]  # old → new category, old → new department


@dataclass
class RetriagePlan:
    """What a retriage found so far: the changes, grouped for the diff, and what it left."""

    changes: list[Proposal] = field(default_factory=list)
    checked: int = 0
    unchanged: int = 0
    corrected: int = 0  # a person's category: kept
    erased: int = 0  # text purged or erased: nothing to classify
    unanswered: int = 0  # the classifier gave no answer
    counts: Counter[DiffKey] = field(default_factory=Counter)
    samples: dict[DiffKey, list[str]] = field(default_factory=dict)
    to_review: int = 0  # changes that end in review
    from_review: int = 0  # changes that leave review

    def diff(self) -> list[tuple[DiffKey, int, list[str]]]:
        """(old category, new category, old department, new department), count, sample ids."""
        return [(key, n, self.samples[key]) for key, n in self.counts.most_common()]

    def note(self, proposal: Proposal) -> None:
        """Count one proposed change in the diff."""
        t = proposal.ticket
        key = (t.category, proposal.decision.category, t.department, proposal.department)
        self.changes.append(proposal)
        self.counts[key] += 1
        sample = self.samples.setdefault(key, [])
        if len(sample) < SAMPLE_IDS:
            sample.append(t.id)
        was_review = t.status == TicketStatus.needs_review.value
        self.to_review += proposal.status is TicketStatus.needs_review and not was_review
        self.from_review += proposal.status is TicketStatus.done and was_review


def needs_classifier(ticket: TicketRecord) -> bool:
    """Whether the classifier is asked about it (not a person's category, text not erased)."""
    return ticket.classifier != PERSON and not (
        ticket.subject == ERASED and ticket.description == ERASED
    )


def plan_batch(
    plan: RetriagePlan,
    tickets: Sequence[TicketRecord],
    decisions: Sequence[Classification | None],
    routing: RoutingTable,
    threshold: float,
) -> list[Proposal]:
    """Compare each ticket with the new decision (None: no answer); the changes, in order.

    `decisions` answer the tickets `needs_classifier` keeps, in order.
    """
    asked = iter(decisions)
    found: list[Proposal] = []
    for ticket in tickets:
        plan.checked += 1
        if ticket.classifier == PERSON:
            plan.corrected += 1
            continue
        if not needs_classifier(ticket):
            plan.erased += 1
            continue
        decision = next(asked)
        if decision is None:
            plan.unanswered += 1
            continue
        routed = choose_department(decision, routing, threshold, source=ticket.source)
        proposal = Proposal(
            ticket, decision, routed.department, routed.reason if routed.needs_review else None
        )
        if (
            decision.category == ticket.category
            and routed.department == ticket.department
            and proposal.status.value == ticket.status
        ):
            plan.unchanged += 1
            continue
        plan.note(proposal)
        found.append(proposal)
    return found


def apply_change(store: RetriageStore, proposal: Proposal, *, actor: str, deliver: bool) -> bool:
    """Write one change as a new generation with its audit event (False: it moved on)."""
    return store.retriage(proposal.change(actor, deliver=deliver))
