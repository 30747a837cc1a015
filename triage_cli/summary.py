"""A run's outcome at a glance: per-category counts, accuracy, latency percentiles."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.domain.lifecycle import TicketStatus
from pipeline.domain.models import TicketRecord
from pipeline.operations.status_report import percentile

LABEL = 19  # width of the first column: "expected category" and two spaces
FINAL_COLUMNS = (TicketStatus.done, TicketStatus.needs_review, TicketStatus.failed)


@dataclass(frozen=True)
class LabelledOutcome:
    """A ticket's stored outcome beside the label it was sent with."""

    ticket: TicketRecord
    expected_category: str
    held_out: bool


def latencies_ms(tickets: Sequence[TicketRecord]) -> list[float]:
    """Ingest → final time of every finished ticket."""
    return [
        (t.finished_at - t.received_at).total_seconds() * 1000
        for t in tickets
        if t.finished_at is not None
    ]


def render_summary(outcomes: Sequence[LabelledOutcome], elapsed_s: float) -> str:
    """The summary table a person reads after a run, a row per expected (labelled) category.

    Grouped by the label each sample was sent with, not the category decided: a row then says
    how the tickets of one true category fared (a misclassified or failed ticket stays in its
    row), and the accuracy line below compares the two.
    """
    rows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for outcome in outcomes:
        row = rows[outcome.expected_category]
        row["count"] += 1
        row[outcome.ticket.status] += 1
    header = (
        f"{'expected category':<{LABEL}}{'count':>7}{'done':>7}{'review':>8}{'failed':>8}"
        f"{'other':>7}"
    )
    lines = [header, "-" * len(header)]
    totals: dict[str, int] = defaultdict(int)
    for category in sorted(rows):
        row = rows[category]
        other = row["count"] - sum(row[s] for s in FINAL_COLUMNS)
        lines.append(
            f"{category:<{LABEL}}{row['count']:>7}{row['done']:>7}{row['needs_review']:>8}"
            f"{row['failed']:>8}{other:>7}"
        )
        for key in ("count", *FINAL_COLUMNS):
            totals[key] += row[key]
        totals["other"] += other
    lines.append("-" * len(header))
    lines.append(
        f"{'total':<{LABEL}}{totals['count']:>7}{totals['done']:>7}{totals['needs_review']:>8}"
        f"{totals['failed']:>8}{totals['other']:>7}"
    )
    held_out = [o for o in outcomes if o.held_out and o.ticket.category is not None]
    correct = sum(o.ticket.category == o.expected_category for o in held_out)
    accuracy = correct / len(held_out) if held_out else 0.0
    latencies = latencies_ms([o.ticket for o in outcomes])
    lines.append("")
    lines.append(f"accuracy on {len(held_out)} held-out tickets (not trained on): {accuracy:.1%}")
    lines.append(
        f"ingest→final latency: p50 {percentile(latencies, 0.5):.0f} ms, "
        f"p95 {percentile(latencies, 0.95):.0f} ms; "
        f"{len(outcomes)} tickets in {elapsed_s:.1f} s "
        f"({len(outcomes) / max(elapsed_s, 1e-9):.0f}/s)"
    )
    return "\n".join(lines)
