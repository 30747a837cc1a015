"""`triage backfill`: load historical tickets from a file, resumable, on the backfill queue."""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path
from typing import Any

import click

from pipeline.backfill.jobs import (
    BackfillJob,
    JobNotFound,
    JobStatus,
    add_enqueued,
    create_job,
    get_job,
    job_ticket_statuses,
    set_job_status,
    unfinished_count,
)
from pipeline.backfill.loader import BatchOutcome, load_rows
from pipeline.backfill.sources import SourceError, parse_mapping, read_rows
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore

EXIT_OK, EXIT_REJECTS, EXIT_USAGE = 0, 1, 2


class BackfillGroup(click.Group):
    """`triage backfill FILE ...` runs a backfill; `triage backfill status` shows one."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=BackfillGroup)
def backfill() -> None:
    """Load historical tickets (CSV or JSONL, gzip accepted); see `triage backfill run -h`."""


@backfill.command("run")
@click.argument("file", type=click.Path(path_type=Path), required=False)
@click.option("--map", "mapping", default=None, help="ours=theirs,... e.g. description=body")
@click.option("--source", default="backfill", show_default=True, help="idempotency scope")
@click.option("--batch-size", default=500, show_default=True)
@click.option("--deliver", is_flag=True, help="also deliver to departments (default: record only)")
@click.option("--resume", "resume_job", default=None, help="continue an interrupted job")
@click.option("--wait", is_flag=True, help="follow the job until every ticket is final")
@click.option(
    "--rejects",
    type=click.Path(path_type=Path),
    default=None,
    help="reject file (default: FILE.rejects.csv)",
)
@click.option(
    "--llm-batch",
    is_flag=True,
    help="classify through the Gemini Batch API (half price, asynchronous)",
)
@click.option("--poll-interval", default=30.0, show_default=True, help="seconds (--llm-batch)")
def run(
    file: Path | None,
    mapping: str | None,
    source: str,
    batch_size: int,
    deliver: bool,
    resume_job: str | None,
    wait: bool,
    rejects: Path | None,
    llm_batch: bool,
    poll_interval: float,
) -> None:
    """Store every row in batches and enqueue it on the backfill queue."""
    from pipeline.wiring import open_store
    from workers.celery_app import default_app
    from workers.chains import enqueue_groups_after_commit

    settings = Settings()
    # Rows committed asynchronously: a database crash can only lose batches --resume redoes.
    store = open_store(settings, async_commit=True)
    try:
        job = _start_or_resume(store, file, mapping, source, deliver, resume_job)
        rows = read_rows(Path(job.path), parse_mapping(job.options.get("map")))
    except (SourceError, JobNotFound) as error:
        click.echo(f"backfill: {error}", err=True)
        sys.exit(EXIT_USAGE)
    app = default_app()
    reject_path = rejects or Path(f"{job.path}.rejects.csv")
    progress = _Progress(job)

    def publish(ticket_ids: list[str]) -> int:
        if llm_batch:
            return 0  # classified by the Batch API once every row is stored
        sent = enqueue_groups_after_commit(app, ticket_ids, group_size=settings.llm_group_size)
        if sent:
            add_enqueued(store, job.id, sent)
        return sent

    with open(reject_path, "a", newline="", encoding="utf-8") as reject_file:
        writer = csv.writer(reject_file)
        if reject_file.tell() == 0:
            writer.writerow(["line", "reason"])

        def on_batch(outcome: BatchOutcome, published: int) -> None:
            writer.writerows((r.line, r.reason) for r in outcome.rejects)
            progress.batch(outcome, published)

        try:
            load_rows(
                store,
                job,
                rows,
                batch_size=batch_size,
                deliver=bool(job.options.get("deliver")),
                max_metadata_bytes=settings.max_metadata_bytes,
                publish_after_commit=publish,
                on_batch=on_batch,
            )
        except (KeyboardInterrupt, SourceError) as error:
            set_job_status(store, job.id, JobStatus.interrupted)
            click.echo(
                f"\nbackfill interrupted ({error or 'Ctrl-C'}); resume with "
                f"`triage backfill --resume {job.id}`",
                err=True,
            )
            sys.exit(EXIT_USAGE if isinstance(error, SourceError) else 130)
    if llm_batch:
        _classify_with_batch_api(store, settings, job.id, poll_interval)
    set_job_status(store, job.id, JobStatus.stored)
    final = get_job(store, job.id)
    click.echo(f"\n{_summary(final)}")
    if final.rejected:
        click.echo(f"rejected rows: {reject_path}", err=True)
    if wait:
        _follow(store, job.id)
    sys.exit(EXIT_REJECTS if final.rejected else EXIT_OK)


@backfill.command("status")
@click.argument("job_id", required=False)
def status(job_id: str | None) -> None:
    """Show a job's counts and its tickets by status (the newest job by default)."""
    from pipeline.wiring import open_store

    store = open_store(Settings())
    try:
        job = get_job(store, job_id)
    except JobNotFound as error:
        click.echo(f"backfill: {error}", err=True)
        sys.exit(EXIT_USAGE)
    statuses = job_ticket_statuses(store, job.id)
    click.echo(_summary(job))
    click.echo("tickets: " + (", ".join(f"{s} {n}" for s, n in sorted(statuses.items())) or "none"))


def _start_or_resume(
    store: TicketStore,
    file: Path | None,
    mapping: str | None,
    source: str,
    deliver: bool,
    resume_job: str | None,
) -> BackfillJob:
    if resume_job is not None:
        job = get_job(store, resume_job)
        set_job_status(store, job.id, JobStatus.running)
        click.echo(f"resuming job {job.id} after row {job.last_line}", err=True)
        return job
    if file is None:
        raise SourceError("give a FILE to load, or --resume JOB")
    parse_mapping(mapping)  # refuse a bad mapping before creating the job
    options: dict[str, Any] = {"map": mapping, "deliver": deliver}
    job = create_job(store, source, str(file.resolve()), options)
    click.echo(f"backfill job {job.id}: {file} (source {source})", err=True)
    return job


def _classify_with_batch_api(
    store: TicketStore, settings: Settings, job_id: str, poll_interval: float
) -> None:
    """Submit the job's tickets to the Gemini Batch API, store the answers, enqueue the rest."""
    from pipeline.backfill.llm_batch import run_llm_batch
    from pipeline.classifiers.gemini.classifier import GeminiClassifier
    from pipeline.domain.lifecycle import Queue, Stage
    from pipeline.domain.routing import load_routing
    from workers.celery_app import default_app
    from workers.chains import enqueue_after_commit

    if settings.gemini_key() is None:
        click.echo(
            "backfill: --llm-batch needs GEMINI_API_KEY (the Gemini Developer API)", err=True
        )
        sys.exit(EXIT_USAGE)
    gemini = GeminiClassifier(
        settings,
        load_routing(settings.routing_file).category_descriptions(),
        queue=Queue.backfill.value,
    )
    classified, left = run_llm_batch(
        store,
        gemini,
        job_id,
        group_size=settings.llm_group_size,
        poll_interval_s=poll_interval,
        timeout_s=24 * 3600.0,
        progress=lambda line: click.echo(f"  {line}", err=True),
    )
    app = default_app()
    sent = sum(
        enqueue_after_commit(app, t, start=Stage.route, queue=Queue.backfill) for t in classified
    )
    sent += sum(enqueue_after_commit(app, t, queue=Queue.backfill) for t in left)
    add_enqueued(store, job_id, sent)
    click.echo(
        f"batch API classified {len(classified)} tickets; {len(left)} go the normal way", err=True
    )


def _summary(job: BackfillJob) -> str:
    return (
        f"job {job.id} {job.status}: read {job.rows_read}, stored {job.stored}, "
        f"skipped {job.skipped} (already stored), rejected {job.rejected}, "
        f"enqueued {job.enqueued}"
    )


class _Progress:
    """One updating line on stderr: counts and rate."""

    def __init__(self, job: BackfillJob) -> None:
        self.started = time.monotonic()
        self.rows = self.stored = self.skipped = self.rejected = 0

    def batch(self, outcome: BatchOutcome, published: int) -> None:
        self.rows += outcome.rows
        self.stored += len(outcome.new_ids)
        self.skipped += outcome.skipped
        self.rejected += len(outcome.rejects)
        rate = self.rows / max(time.monotonic() - self.started, 1e-6)
        click.echo(
            f"\r  rows {self.rows:,} · stored {self.stored:,} · skipped {self.skipped:,}"
            f" · rejected {self.rejected:,} · {rate:,.0f} rows/s",
            nl=False,
            err=True,
        )


def _follow(store: TicketStore, job_id: str, poll_s: float = 1.0) -> None:
    """Show the job's tickets by status until none is left unfinished."""
    while True:
        statuses = job_ticket_statuses(store, job_id)
        left = unfinished_count(statuses)
        line = ", ".join(f"{s} {n}" for s, n in sorted(statuses.items()))
        click.echo(f"\r  {line}", nl=False, err=True)
        if left == 0:
            click.echo("", err=True)
            return
        time.sleep(poll_s)
