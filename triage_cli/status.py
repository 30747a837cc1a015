"""`triage status`: the pipeline on one screen."""

from __future__ import annotations

import click

from pipeline.domain.lifecycle import TicketStatus
from pipeline.operations.status_report import StatusReport, gather_status
from pipeline.settings import Settings


def render_status(report: StatusReport, budget_per_minute: int) -> str:
    """The status screen as text."""
    lines = [
        "queues       "
        + "   ".join(f"{q}: {'n/a' if n is None else n}" for q, n in report.queue_depths.items())
    ]
    order = [s.value for s in TicketStatus]
    recent = "   ".join(f"{s} {report.statuses_last_hour.get(s, 0)}" for s in order)
    lines.append(f"last hour    {recent}")
    pending = "   ".join(f"{s} {n}" for s, n in sorted(report.pending.items())) or "none"
    lines.append(f"in flight    {pending}")
    lines.append(
        "stage times  "
        + (
            "   ".join(
                f"{t.stage} p50 {t.p50_ms:.0f} ms / p95 {t.p95_ms:.0f} ms"
                for t in report.stage_timings
            )
            or "no ticket closed in the last hour"
        )
    )
    lines.append(
        f"LLM (1 h)    {report.llm_requests_last_hour} requests "
        f"({report.llm_requests_last_hour / 60:.1f}/min of {budget_per_minute}/min budget), "
        f"{report.llm_tokens_last_hour} tokens, {report.llm_cache_hits_last_hour} cache hits"
    )
    lines.append("top failures (24 h)")
    lines += [f"  {n:>6}  {error}" for error, n in report.top_failures] or ["  none"]
    return "\n".join(lines)


@click.command()
def status() -> None:
    """Queue depths, tickets by status, top failures, stage p50/p95, LLM budget use."""
    from pipeline.wiring import build_queue_depths, open_store

    settings = Settings()
    report = gather_status(open_store(settings), build_queue_depths(settings))
    click.echo(render_status(report, settings.llm_requests_per_minute))
