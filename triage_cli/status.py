"""`triage status`: the pipeline on one screen, every number labelled, outages said in words."""

from __future__ import annotations

import textwrap
from datetime import datetime
from urllib.parse import urlsplit

import click

from pipeline.domain.errors import TriageError
from pipeline.domain.lifecycle import FINAL_STATUSES, TicketStatus
from pipeline.operations.status_report import RetryingGroup, StatusReport, gather_status
from pipeline.settings import Settings
from pipeline.store import STORE_OUTAGES

WIDTH = 100  # every line fits a 100-column terminal (and a cron mail)
LABEL = 16


def where(url: str, *, path: bool = True) -> str:
    """A URL's host:port (and path, e.g. the database) without credentials, for messages."""
    parts = urlsplit(url)
    if parts.scheme.startswith("sqlite"):
        return url  # a file path has no password
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    tail = parts.path if path and parts.path not in ("", "/") else ""
    return f"{host}{port}{tail}"


def _redis(url: str) -> str:
    return where(url, path=False)  # the db number is no help to someone starting Redis


def render_status(report: StatusReport, settings: Settings) -> str:
    """The status screen as text, every line at most WIDTH characters."""
    lines = [f"ticket-triage status at {report.at:%Y-%m-%d %H:%M:%S} UTC"]
    lines += _redis_warning(report, settings)
    lines.append(_row("queues", _queues(report, settings)))
    in_flight = [s for s in TicketStatus if s not in FINAL_STATUSES]
    final = [s for s in TicketStatus if s in FINAL_STATUSES]
    lines.append(_row("tickets now", "in flight  " + _counts(report.statuses, in_flight, "   ")))
    lines.append(_row("", "final      " + _counts(report.statuses, final, "   ")))
    lines.append(
        _row(
            "last hour",
            f"received {report.received_last_hour}; finished "
            + _counts(report.finished_last_hour, final, ", "),
        )
    )
    lines += _retrying(report)
    lines += textwrap.wrap(
        _row("open circuits", _circuits(report, settings)),
        WIDTH,
        subsequent_indent=" " * LABEL,
        break_on_hyphens=False,
    )
    lines += _timings(report)
    budget = settings.llm_requests_per_minute
    lines.append(
        _row(
            "LLM (1 h)",
            f"{report.llm_requests_last_hour} requests "
            f"({report.llm_requests_last_hour / 60:.1f}/min of {budget}/min budget), "
            f"{report.llm_tokens_last_hour} tokens, {report.llm_cache_hits_last_hour} cache hits",
        )
    )
    lines.append(_row("LLM spend", _spend(report)))
    lines.append(_row("failed (24 h)", "by last error" if report.top_failures else "none"))
    lines += [f"  {n:>7}  {error}" for error, n in report.top_failures]
    return "\n".join(_fit(line) for line in lines)


def _spend(report: StatusReport) -> str:
    text = (
        f"1 h ${report.llm_spend_last_hour_usd:.2f}, today ${report.llm_spend_today_usd:.2f}, "
        f"month ${report.llm_spend_month_usd:.2f}"
    )
    budget = report.llm_monthly_budget_usd
    if budget is None:
        return text
    if report.llm_monthly_budget_reached:
        return f"{text} of ${budget:.2f}: monthly budget reached, LLM skipped"
    return f"{text} of ${budget:.2f} monthly budget"


def _row(label: str, text: str) -> str:
    return f"{label:<{LABEL}}{text}"


def _fit(line: str) -> str:
    return line if len(line) <= WIDTH else line[: WIDTH - 1] + "…"


def _counts(counts: dict[str, int], order: list[TicketStatus], sep: str) -> str:
    return sep.join(f"{s.value} {counts.get(s.value, 0)}" for s in order)


def _redis_down(report: StatusReport, settings: Settings) -> tuple[bool, bool]:
    """(broker Redis unreachable, shared Redis unreachable)."""
    broker_is_redis = settings.broker_url.startswith(("redis://", "rediss://"))
    queues_down = broker_is_redis and all(n is None for n in report.queue_depths.values())
    return queues_down, report.circuits_error is not None


def _redis_warning(report: StatusReport, settings: Settings) -> list[str]:
    queues_down, circuits_down = _redis_down(report, settings)
    broker = _redis(settings.broker_url)
    shared = _redis(settings.shared_redis_url() or settings.broker_url)
    if queues_down and circuits_down and shared == broker:
        return [f"Redis at {broker} unreachable: queue depths and circuits unknown"]
    lines = []
    if queues_down:
        lines.append(f"Redis at {broker} unreachable: queue depths unknown")
    if circuits_down:
        lines.append(f"Redis at {shared} unreachable: circuits unknown")
    return lines


def _queues(report: StatusReport, settings: Settings) -> str:
    if _redis_down(report, settings)[0]:
        return f"unknown: Redis at {_redis(settings.broker_url)} unreachable"
    if all(n is None for n in report.queue_depths.values()):
        scheme = urlsplit(settings.broker_url).scheme or settings.broker_url
        return f"unknown for a {scheme}:// broker (only a Redis broker's queues are counted)"
    return "   ".join(
        f"{q} {'?' if n is None else n} waiting" for q, n in report.queue_depths.items()
    )


def _circuits(report: StatusReport, settings: Settings) -> str:
    shared = settings.shared_redis_url()
    if shared is None:
        return "unknown here: without Redis (TRIAGE_REDIS_URL) each worker keeps its own"
    if report.circuits_error is not None:
        return f"unknown: Redis at {_redis(shared)} unreachable ({report.circuits_error})"
    if not report.open_circuits:
        return "none"
    return ", ".join(
        f"{department} (closes in {_duration(seconds)})"
        for department, seconds in sorted(report.open_circuits.items())
    )


def _retrying(report: StatusReport) -> list[str]:
    if not report.retrying_total:
        return [_row("retrying", "none")]
    lines = [
        _row(
            "retrying",
            f"{report.retrying_total} tickets whose current stage failed and will be tried again",
        ),
        f"  {'tickets':>7}  {'next attempt':<13}  {'failing for':<11}  last error",
    ]
    for group in report.retrying:
        lines += _retry_rows(group, report.at)
    shown = sum(g.tickets for g in report.retrying)
    if shown < report.retrying_total:
        lines.append(f"  {report.retrying_total - shown:>7}  with other errors")
    lines.append(f"  one of them: triage ticket show {report.retrying[0].example_id}")
    return lines


def _retry_rows(group: RetryingGroup, now: datetime) -> list[str]:
    if group.next_attempt_at is None:
        next_attempt = "Celery retry"  # a short countdown held by a worker, not the store
    elif group.next_attempt_at >= now:
        next_attempt = "in " + _duration((group.next_attempt_at - now).total_seconds())
    else:
        next_attempt = "due, sweeper"  # overdue: the sweeper re-enqueues it on its next pass
    failing = (
        _duration((now - group.retrying_since).total_seconds()) if group.retrying_since else "?"
    )
    lead = f"  {group.tickets:>7}  {next_attempt:<13}  {failing:<11}  "
    # The error wraps under its column (two lines at most) rather than being cut at the edge.
    room = WIDTH - len(lead)
    parts = textwrap.wrap(group.error, room) or [""]
    if len(parts) > 2:
        parts = [parts[0], parts[1][: room - 2] + " …"]
    return [lead + parts[0]] + [" " * len(lead) + part for part in parts[1:]]


def _timings(report: StatusReport) -> list[str]:
    if not report.stage_timings:
        return [_row("stage times", "no ticket closed in the last hour")]
    lines = [
        _row("stage times", "tickets closed in the last hour; queue wait included"),
        f"  {'stage':<12}{'tickets':>9}{'p50':>12}{'p95':>12}",
    ]
    lines += [
        f"  {t.stage:<12}{t.count:>9}{_ms(t.p50_ms):>12}{_ms(t.p95_ms):>12}"
        for t in report.stage_timings
    ]
    return lines


def _ms(value: float) -> str:
    return f"{value:.0f} ms" if value < 10_000 else f"{value / 1000:.1f} s"


def _duration(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


@click.command()
def status() -> None:
    """Tickets by current status, retries, open circuits, queues, stage times, LLM use."""
    from pipeline.wiring import Services, build_queue_depths, open_store

    settings = Settings()
    try:
        store = open_store(settings)
        # Circuits are shared only through Redis; without it this process cannot see them.
        circuits = Services(settings, store=store).circuit_breaker
        report = gather_status(
            store,
            build_queue_depths(settings),
            circuits if settings.shared_redis_url() else None,
            monthly_budget=settings.llm_monthly_budget,
        )
    except STORE_OUTAGES as error:
        from pipeline.store.health import store_error_line  # the line every command prints

        raise click.ClickException(store_error_line(settings.database_url, error)) from None
    except TriageError as error:  # e.g. a stale schema: its message names `triage db upgrade`
        raise click.ClickException(str(error)) from None
    click.echo(render_status(report, settings))
