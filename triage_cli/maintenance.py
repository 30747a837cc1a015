"""`triage replay` and `triage purge`: operators' bulk changes to finished tickets."""

from __future__ import annotations

import click

from pipeline.settings import Settings
from pipeline.telemetry.logs import configure_logging


@click.command()
@click.option(
    "--status",
    default="failed",
    show_default=True,
    type=click.Choice(["failed", "needs_review", "done"]),
)
@click.option("--since", default=None, help="only tickets updated at or after (ISO 8601)")
@click.option("--category", default=None, help="only tickets of this category")
def replay(status: str, since: str | None, category: str | None) -> None:
    """Resume finished tickets from the stage that failed (new delivery generation)."""
    from collections import Counter
    from datetime import UTC, datetime

    from pipeline.domain.lifecycle import TicketStatus
    from pipeline.operations.replay import reopen_matching
    from workers.celery_app import default_app, services_for
    from workers.chains import enqueue_after_commit

    app = default_app()
    configure_logging(app.triage_settings)
    cutoff = None
    if since is not None:
        try:
            cutoff = datetime.fromisoformat(since)
        except ValueError:
            raise click.BadParameter("use ISO 8601", param_hint="--since") from None
        cutoff = cutoff if cutoff.tzinfo else cutoff.replace(tzinfo=UTC)
    reopened = reopen_matching(
        services_for(app).store,
        status=TicketStatus(status),
        since=cutoff,
        category=category,
        actor="cli:replay",
    )
    from triage_cli.progress import summary, tracking

    published = 0
    with tracking("replay", total=len(reopened), unit="tickets") as bar:
        for done, r in enumerate(reopened, start=1):
            published += enqueue_after_commit(app, r.ticket_id, start=r.stage, queue=r.queue)
            bar.update(count=done)
    by_stage = Counter(r.stage.value for r in reopened)
    detail = ", ".join(f"{n} from {stage}" for stage, n in sorted(by_stage.items())) or "none"
    summary(
        f"replayed {len(reopened)} {status} tickets ({detail}); {published} enqueued, "
        f"{len(reopened) - published} left for the sweeper"
    )


@click.command()
@click.option("--before", required=True, help="ISO date: purge finished tickets received before")
def purge(before: str) -> None:
    """Remove ticket text older than a retention date; the audit skeleton stays."""
    from datetime import UTC, datetime

    from pipeline.operations.retention import purge_before
    from pipeline.wiring import open_store

    try:
        cutoff = datetime.fromisoformat(before)
    except ValueError:
        raise click.BadParameter("use an ISO date like 2026-01-31", param_hint="--before") from None
    cutoff = cutoff if cutoff.tzinfo else cutoff.replace(tzinfo=UTC)
    count = purge_before(open_store(Settings()), cutoff, actor="cli:purge")
    click.echo(f"purged the text of {count} tickets received before {cutoff.isoformat()}")
