"""The numbers behind the console's quality page: volume, corrections, confidence, cost, time."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.domain.review import TrailEvent
from pipeline.operations.status_report import percentile
from pipeline.ports import ReportQueries

EVENT_LIMIT = 20_000  # enough for a fortnight of a busy queue, bounded for a big store
BINS = 10  # confidence histogram: tenths


@dataclass(frozen=True)
class CorrectionRate:
    """One classifier's decisions in one category and what people did with them."""

    classifier: str
    category: str
    decided: int
    reviewed: int  # a person confirmed or corrected
    corrected: int  # ... and chose another category

    @property
    def rate(self) -> float:
        """Share of the decisions a person changed."""
        return self.corrected / self.decided if self.decided else 0.0


@dataclass
class QualityReport:
    """Everything the quality page draws, over `days` up to `at`."""

    at: datetime
    days: int
    threshold: float
    per_day: dict[str, Counter[str]] = field(default_factory=dict)  # day -> category -> n
    corrections: list[CorrectionRate] = field(default_factory=list)
    histogram: list[int] = field(default_factory=lambda: [0] * BINS)
    coverage: float | None = None  # share of decisions at or above the threshold
    precision_above: float | None = None  # share of reviewed decisions above it kept
    precision_below: float | None = None
    cascade_local: int = 0
    cascade_llm: int = 0
    spend_per_day: dict[str, float] = field(default_factory=dict)
    tokens: int = 0
    latency: dict[str, tuple[float, float, int]] = field(default_factory=dict)


def gather_quality(
    reports: ReportQueries, *, threshold: float, days: int = 14, now: datetime | None = None
) -> QualityReport:
    """Read the window's events once and compute every chart's numbers."""
    now = now or datetime.now(UTC)
    since = now - timedelta(days=days)
    report = QualityReport(at=now, days=days, threshold=threshold)
    for back in range(days, -1, -1):
        report.per_day[(now - timedelta(days=back)).date().isoformat()] = Counter()
    for ticket in reports.received_tickets(since=since, limit=EVENT_LIMIT):
        day = ticket.received_at.astimezone(UTC).date().isoformat()
        report.per_day.setdefault(day, Counter())[ticket.category or "(unclassified)"] += 1
    events = reports.trail_events(
        ["classified", "corrected", "closed"], since=since, limit=EVENT_LIMIT
    )
    events.reverse()  # oldest first: a ticket's latest decision wins
    _decisions_and_verdicts(report, events)
    _cost_and_latency(report, events)
    return report


def _decisions_and_verdicts(report: QualityReport, events: list[TrailEvent]) -> None:
    decisions: dict[str, dict[str, Any]] = {}
    verdicts: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for event in events:
        if event.event == "classified":
            decisions[event.ticket_id] = event.detail
        elif event.event == "corrected" and event.ticket_id in decisions:
            verdicts[event.ticket_id] = (decisions[event.ticket_id], event.detail)
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    kept = {True: [0, 0], False: [0, 0]}  # above threshold? -> [reviewed, kept]
    for ticket_id, detail in decisions.items():
        key = (str(detail.get("classifier") or "?"), str(detail.get("category") or "?"))
        counts[key][0] += 1
        confidence = detail.get("confidence")
        if isinstance(confidence, int | float):
            report.histogram[min(BINS - 1, max(0, int(confidence * BINS)))] += 1
        verdict = verdicts.get(ticket_id)
        if verdict is not None:
            changed = verdict[1].get("to") != detail.get("category")
            counts[key][1] += 1
            counts[key][2] += int(changed)
            if isinstance(confidence, int | float):
                above = kept[confidence >= report.threshold]
                above[0] += 1
                above[1] += int(not changed)
        if "cascade_threshold" in detail:
            if detail.get("llm_call"):
                report.cascade_llm += 1
            else:
                report.cascade_local += 1
    report.corrections = [
        CorrectionRate(classifier, category, *numbers)
        for (classifier, category), numbers in sorted(counts.items())
    ]
    scored = sum(report.histogram)
    if scored:
        top = sum(report.histogram[int(report.threshold * BINS) :])
        report.coverage = top / scored
    report.precision_above = kept[True][1] / kept[True][0] if kept[True][0] else None
    report.precision_below = kept[False][1] / kept[False][0] if kept[False][0] else None


def _cost_and_latency(report: QualityReport, events: list[TrailEvent]) -> None:
    timings: dict[str, list[float]] = defaultdict(list)
    for event in events:
        if event.event == "closed":
            for stage, ms in (event.detail.get("stage_ms") or {}).items():
                timings[stage].append(float(ms))
        elif event.event == "classified":
            # A cascade nests its LLM call; the local model has no cost at all.
            call = event.detail.get("llm_call") or event.detail
            if not isinstance(call, dict):
                continue
            cost = call.get("cost_usd")
            if isinstance(cost, int | float):
                day = event.created_at.astimezone(UTC).date().isoformat()
                report.spend_per_day[day] = report.spend_per_day.get(day, 0.0) + float(cost)
            report.tokens += int(call.get("prompt_tokens") or 0) + int(
                call.get("output_tokens") or 0
            )
    report.latency = {
        stage: (percentile(values, 0.5), percentile(values, 0.95), len(values))
        for stage, values in sorted(timings.items())
    }
