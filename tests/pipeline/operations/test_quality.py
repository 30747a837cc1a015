"""The quality page's numbers from audit events: corrections, threshold, cascade, spend, time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.domain.review import ReceivedTicket, TrailEvent, top_alternatives
from pipeline.operations.quality import gather_quality

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


class Reports:
    def __init__(self, events: list[TrailEvent]) -> None:
        self.events = events

    def trail_events(self, events, *, since, limit):  # type: ignore[no-untyped-def]
        return [e for e in reversed(self.events) if e.event in events][:limit]

    def received_tickets(self, *, since, limit):  # type: ignore[no-untyped-def]
        return [ReceivedTicket(NOW - timedelta(days=1), "billing"), ReceivedTicket(NOW, None)]


def event(ticket: str, name: str, **detail: object) -> TrailEvent:
    return TrailEvent(ticket, name, dict(detail), NOW - timedelta(hours=1))


def test_correction_rates_threshold_cascade_spend_and_latency() -> None:
    events = [
        event("a", "classified", classifier="local", category="billing", confidence=0.9),
        event("b", "classified", classifier="local", category="billing", confidence=0.3),
        event("c", "classified", classifier="cascade", category="refund", confidence=0.4,
              cascade_threshold=0.8, llm_call={"cost_usd": 0.002, "prompt_tokens": 100}),
        event("d", "classified", classifier="cascade", category="refund", confidence=0.95,
              cascade_threshold=0.8),
        event("a", "corrected", **{"from": "billing", "to": "billing", "by": "key:ada"}),
        event("b", "corrected", **{"from": "billing", "to": "refund", "by": "key:ada"}),
        event("a", "closed", stage_ms={"classify": 10, "route": 40}),
        event("b", "closed", stage_ms={"classify": 30, "route": 20}),
    ]  # fmt: skip
    report = gather_quality(Reports(events), threshold=0.55, days=3, now=NOW)  # type: ignore[arg-type]
    local_billing = next(c for c in report.corrections if c.classifier == "local")
    assert (local_billing.decided, local_billing.reviewed, local_billing.corrected) == (2, 2, 1)
    assert local_billing.rate == 0.5
    assert report.coverage == 0.5  # a and d at or above 0.55
    assert (report.precision_above, report.precision_below) == (1.0, 0.0)
    assert (report.cascade_local, report.cascade_llm) == (1, 1)
    assert report.spend_per_day == {"2026-12-01": 0.002} and report.tokens == 100
    assert report.latency["route"] == (40.0, 40.0, 2)  # nearest rank, as `triage status`
    assert (report.histogram[9], report.histogram[3], report.histogram[4]) == (2, 1, 1)
    assert report.per_day["2026-11-30"]["billing"] == 1
    assert report.per_day["2026-12-01"]["(unclassified)"] == 1


def test_top_alternatives_reads_what_the_detail_holds() -> None:
    detail = {
        "category": "billing",
        "scores": {"billing": 0.5, "refund": 0.3, "sales": 0.1, "account": 0.05},
        "local_category": "refund",
        "local_confidence": 0.6,
    }
    assert top_alternatives(detail, limit=2) == [("refund", 0.3), ("sales", 0.1)]
    assert top_alternatives({"alternatives": [{"category": "x", "score": 0.2}]}) == [("x", 0.2)]
    assert top_alternatives({}) == []
