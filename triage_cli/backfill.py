"""`triage backfill`: load historical tickets from a file, resumable, on the backfill queue."""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import click

from pipeline.backfill.formats import FORMATS, check_format, read_format_rows
from pipeline.backfill.jobs import (
    add_enqueued,
    create_job,
    get_job,
    job_holding_tickets,
    job_ticket_statuses,
    set_job_status,
    unfinished_count,
)
from pipeline.backfill.loader import BatchOutcome, load_rows
from pipeline.backfill.sources import (
    SourceError,
    SourceRow,
    check_source,
    parse_mapping,
    read_rows,
    source_size,
)
from pipeline.domain.operator import BackfillJob, JobNotFound, JobStatus
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore
from triage_cli.progress import Tracker, summary, tracking

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
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="a helpdesk's own export, mapped like its webhooks (source defaults to its name)",
)
@click.option("--source", default="backfill", show_default=True, help="idempotency scope")
@click.option("--batch-size", default=500, show_default=True)
@click.option("--deliver", is_flag=True, help="also deliver to departments (default: record only)")
@click.option("--resume", "resume_job", default=None, help="continue an interrupted job")
@click.option("--wait", is_flag=True, help="follow the job until every ticket is final")
@click.option(
    "--rejects",
    type=click.Path(path_type=Path),
    default=None,
    help="reject file, rewritten by each run (default: FILE.rejects.csv)",
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
    fmt: str | None,
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
    from pipeline.wiring import Services, open_store
    from workers.celery_app import default_app
    from workers.chains import enqueue_groups_after_commit

    if resume_job is None:
        # Before the store is opened and a job created: a run that cannot store one row
        # fails at once with the reason, instead of starting a job that rejects every row.
        _check_input(file, mapping, fmt)
    if fmt is not None and source == "backfill":
        # The webhook's source: a ticket backfilled now and delivered later is one ticket.
        source = fmt
    settings = Settings()
    if llm_batch and settings.gemini_key() is None:
        _usage("--llm-batch needs GEMINI_API_KEY (the Gemini Developer API)")
    # Rows committed asynchronously: a database crash can only lose batches --resume redoes.
    store = open_store(settings, async_commit=True)
    try:
        job = _start_or_resume(store, file, mapping, source, deliver, resume_job, fmt)
        job_format = job.options.get("format")
        rows = (
            read_format_rows(Path(job.path), job_format)
            if job_format
            else read_rows(Path(job.path), parse_mapping(job.options.get("map")))
        )
    except (SourceError, JobNotFound) as error:
        _usage(error)
    app = default_app()
    reject_path = rejects or Path(f"{job.path}.rejects.csv")

    def publish(ticket_ids: list[str]) -> int:
        if llm_batch:
            return 0  # classified by the Batch API once every row is stored
        sent = enqueue_groups_after_commit(app, ticket_ids, group_size=settings.backfill_group_size)
        if sent:
            add_enqueued(store, job.id, sent)
        return sent

    # One run's rejects: a re-run rewrites the file; a resume continues its own job's file.
    mode = "a" if resume_job is not None else "w"
    with (
        open(reject_path, mode, newline="", encoding="utf-8") as reject_file,
        tracking("backfill", total=source_size(Path(job.path)), unit="rows") as tracker,
    ):
        writer = csv.writer(reject_file)
        if reject_file.tell() == 0:
            writer.writerow(["line", "reason"])
        counts = _Counts(tracker)

        def on_batch(outcome: BatchOutcome, published: int) -> None:
            writer.writerows((r.line, r.reason) for r in outcome.rejects)
            counts.batch(outcome)

        try:
            load_rows(
                store,
                job,
                counts.reading(rows),
                batch_size=batch_size,
                deliver=bool(job.options.get("deliver")),
                max_metadata_bytes=settings.max_metadata_bytes,
                publish_after_commit=publish,
                on_batch=on_batch,
                before_batch=Services(settings, store=store).backfill_pace.yield_to_live,
            )
        except (KeyboardInterrupt, SourceError) as error:
            set_job_status(store, job.id, JobStatus.interrupted)
            tracker.stop()
            click.echo(
                f"backfill interrupted ({error or 'Ctrl-C'}); resume with "
                f"`triage backfill --resume {job.id}`",
                err=True,
            )
            sys.exit(EXIT_USAGE if isinstance(error, SourceError) else 130)
    if llm_batch:
        from triage_cli.backfill_batch import classify_with_batch_api

        classify_with_batch_api(store, settings, job.id, poll_interval)
    set_job_status(store, job.id, JobStatus.stored)
    final = get_job(store, job.id)
    summary(_summary(final))
    if final.rejected:
        click.echo(f"rejected rows: {reject_path}", err=True)
    if wait:
        _follow(store, job.id)
    sys.exit(EXIT_REJECTS if final.rejected else EXIT_OK)


@backfill.command("status")
@click.argument("job_id", required=False)
def status(job_id: str | None) -> None:
    """Show a job's counts and its tickets by status (default: the newest that stored any)."""
    from pipeline.wiring import open_store

    store = open_store(Settings())
    try:
        job = get_job(store, job_id)
    except JobNotFound as error:
        _usage(error)
    newer = None
    if job_id is None:
        # A re-run of the same file skips every row, so its job holds no ticket: the job a
        # person asks about is the one that stored them; the re-run is named below it.
        holder = job_holding_tickets(store)
        if holder is not None and holder.id != job.id:
            job, newer = holder, job
    statuses = job_ticket_statuses(store, job.id)
    click.echo(_summary(job))
    click.echo("tickets: " + (", ".join(f"{s} {n}" for s, n in sorted(statuses.items())) or "none"))
    if newer is not None:
        click.echo(
            f"newer run: job {newer.id} ({newer.status}) stored no tickets (read {newer.rows_read},"
            f" skipped {newer.skipped} already stored, rejected {newer.rejected}); "
            f"`triage backfill status {newer.id}` shows it"
        )


def _usage(error: object) -> NoReturn:
    click.echo(f"backfill: {error}", err=True)
    sys.exit(EXIT_USAGE)


def _check_input(file: Path | None, mapping: str | None, fmt: str | None = None) -> None:
    """Refuse a missing FILE, a bad --map, or columns that give no required field (exit 2)."""
    if file is None:
        _usage("give a FILE to load, or --resume JOB")
    if fmt is not None and mapping:
        _usage("--format maps the export's own columns; drop --map")
    try:
        if fmt is not None:
            check_format(file, fmt)
            return
        check_source(file, parse_mapping(mapping))
    except SourceError as error:
        _usage(error)


def _start_or_resume(
    store: TicketStore,
    file: Path | None,
    mapping: str | None,
    source: str,
    deliver: bool,
    resume_job: str | None,
    fmt: str | None = None,
) -> BackfillJob:
    if resume_job is not None:
        job = get_job(store, resume_job)
        if job.options.get("format"):
            check_format(Path(job.path), job.options["format"])
        else:
            check_source(Path(job.path), parse_mapping(job.options.get("map")))
        set_job_status(store, job.id, JobStatus.running)
        click.echo(f"resuming job {job.id} after row {job.last_line}", err=True)
        return job
    if file is None:
        raise SourceError("give a FILE to load, or --resume JOB")
    options: dict[str, Any] = {"map": mapping, "deliver": deliver, "format": fmt}
    job = create_job(store, source, str(file.resolve()), options)
    click.echo(f"backfill job {job.id}: {file} (source {source})", err=True)
    return job


def _summary(job: BackfillJob) -> str:
    return (
        f"job {job.id} {job.status}: read {job.rows_read}, stored {job.stored}, "
        f"skipped {job.skipped} (already stored), rejected {job.rejected}, "
        f"enqueued {job.enqueued}"
    )


class _Counts:
    """The run's counts as they grow, shown on the tracker; the bar follows the file's bytes."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.offset = 0
        self.stored = self.skipped = self.rejected = 0

    def reading(self, rows: Iterable[SourceRow]) -> Iterator[SourceRow]:
        """The rows, noting how far into the file they reach."""
        for row in rows:
            self.offset = row.offset
            yield row

    def batch(self, outcome: BatchOutcome) -> None:
        """A committed batch."""
        self.stored += len(outcome.new_ids)
        self.skipped += outcome.skipped
        self.rejected += len(outcome.rejects)
        self.tracker.update(
            advance=outcome.rows,
            completed=self.offset,
            detail=f"stored {self.stored:,} · skipped {self.skipped:,}"
            f" · rejected {self.rejected:,}",
        )


def _follow(store: TicketStore, job_id: str, poll_s: float = 1.0) -> None:
    """Show the job's tickets by status until none is left unfinished."""
    statuses = job_ticket_statuses(store, job_id)
    total, left, line = sum(statuses.values()), unfinished_count(statuses), ""
    with tracking("tickets final", total=total, unit="tickets") as tracker:
        try:
            while True:
                total, left = sum(statuses.values()), unfinished_count(statuses)
                line = ", ".join(f"{s} {n}" for s, n in sorted(statuses.items()))
                tracker.update(count=total - left, total=total, detail=line)
                if left == 0:
                    break
                time.sleep(poll_s)
                statuses = job_ticket_statuses(store, job_id)
        except KeyboardInterrupt:
            tracker.stop()
            click.echo(
                f"stopped following: {left} tickets not final yet; "
                f"`triage backfill status {job_id}` shows them",
                err=True,
            )
            sys.exit(130)
    summary(f"job {job_id}: {total} tickets final ({line or 'none'})")
