"""Triage quality at a glance: volume, correction rates, confidence, cascade, spend, latency."""

from __future__ import annotations

from flask import render_template, request

from ingest_api.console import charts
from ingest_api.console.base import console, signed_in
from ingest_api.context import api_context
from pipeline.domain.operator import Role
from pipeline.operations.quality import gather_quality


@console.get("/quality")
@signed_in(Role.reader)
def quality() -> str:
    """The charts, each with its numbers."""
    context = api_context()
    days = min(90, max(1, request.args.get("days", default=14, type=int) or 14))
    report = gather_quality(
        context.store.reports, threshold=context.settings.confidence_threshold, days=days
    )
    corrections = [
        (
            f"{c.classifier} · {c.category}",
            c.rate,
            f"{c.rate:.0%} ({c.corrected}/{c.decided}, {c.reviewed} reviewed)",
        )
        for c in report.corrections
    ]
    cascade_total = report.cascade_local + report.cascade_llm
    cascade = [
        ("answered locally", report.cascade_local, str(report.cascade_local)),
        ("asked the LLM", report.cascade_llm, str(report.cascade_llm)),
    ]
    spend = [(day, cost, f"${cost:.4f}") for day, cost in sorted(report.spend_per_day.items())]
    latency = [
        row
        for stage, (p50, p95, n) in report.latency.items()
        for row in (
            (f"{stage} p50", p50, f"{p50:.0f} ms (n={n})"),
            (f"{stage} p95", p95, f"{p95:.0f} ms"),
        )
    ]
    return render_template(
        "quality.html",
        report=report,
        volume=charts.stacked_columns(report.per_day, "tickets per category per day"),
        corrections=charts.bars(corrections, "correction rate by classifier and category", top=1),
        histogram=charts.histogram(report.histogram, report.threshold, "confidence"),
        cascade=charts.bars(cascade, "cascade answers") if cascade_total else None,
        cascade_share=report.cascade_local / cascade_total if cascade_total else None,
        spend=charts.bars(spend, "LLM spend per day") if spend else None,
        spend_total=sum(report.spend_per_day.values()),
        latency=charts.bars(latency, "stage latency"),
    )
