"""`triage retriage`: what the current classifier and routing would change on stored tickets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from pipeline.domain.errors import ConfigurationError
from triage_cli.progress import summary, tracking

if TYPE_CHECKING:
    from pipeline.operations.retriage import RetriagePlan

PAGE = 500  # tickets read, classified and compared at a time
ACTOR = "cli:retriage"


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        cutoff = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use ISO 8601, e.g. 2026-01-31", param_hint="--since") from None
    return cutoff if cutoff.tzinfo else cutoff.replace(tzinfo=UTC)


@click.command("retriage")
@click.option("--since", default=None, help="only tickets received at or after (ISO 8601)")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(["done", "needs_review"]),
    help="only tickets in this final status (repeatable) [default: both]",
)
@click.option("--category", default=None, help="only tickets of this (current) category")
@click.option("--limit", default=None, type=click.IntRange(min=1), help="at most N tickets")
@click.option("--dry-run", is_flag=True, help="print the diff; change nothing")
@click.option(
    "--deliver",
    is_flag=True,
    help="send changed tickets to their new department (and write back); default: record only",
)
def retriage_command(
    since: str | None,
    statuses: tuple[str, ...],
    category: str | None,
    limit: int | None,
    dry_run: bool,
    deliver: bool,
) -> None:
    """Re-run the current classifier and routing file on stored tickets; show or apply the diff.

    Applied changes are new generations with a `retriaged` audit event each; a person's
    category is never replaced.
    """
    from pipeline.domain.lifecycle import Queue, Stage, TicketStatus
    from pipeline.operations.evaluation_gate import review_threshold, run_classifier
    from pipeline.operations.retriage import RetriagePlan, apply_change, needs_classifier
    from pipeline.operations.retriage import plan_batch as compare
    from pipeline.ports import RetriageFilter
    from pipeline.settings import Settings
    from pipeline.store.retriage import retriage_store
    from pipeline.wiring import build_services
    from workers.celery_app import default_app
    from workers.chains import enqueue_after_commit

    if dry_run and deliver:
        raise click.UsageError("--deliver sends changes: it cannot go with --dry-run")
    services = build_services(Settings())
    app = default_app() if deliver else None  # the broker only when something is sent
    store = retriage_store(services.store)
    which = RetriageFilter(
        statuses=tuple(TicketStatus(s) for s in statuses) or RetriageFilter().statuses,
        since=_since(since),
        category=category,
    )
    total = store.retriage_count(which)
    total = total if limit is None else min(total, limit)
    try:
        classifiers = {q: services.classifier_for(q.value) for q in Queue}
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    plan, applied, left, enqueued = RetriagePlan(), 0, 0, 0
    after: str | None = None
    with tracking("retriage", total=total, unit="tickets") as bar:
        while plan.checked < total:
            page = store.retriage_candidates(
                which, limit=min(PAGE, total - plan.checked), after_id=after
            )
            if not page:
                break
            after = page[-1].id
            for queue, classifier in classifiers.items():
                tickets = [t for t in page if t.queue == queue.value]
                asked = [t for t in tickets if needs_classifier(t)]
                decisions = run_classifier(classifier, [t.text() for t in asked]).decisions
                threshold, _ = review_threshold(classifier, services.settings.confidence_threshold)
                for proposal in compare(plan, tickets, decisions, services.routing, threshold):
                    if dry_run:
                        continue
                    if not apply_change(store, proposal, actor=ACTOR, deliver=deliver):
                        left += 1  # changed since it was read (a correction, a replay)
                        continue
                    applied += 1
                    if app is not None:  # after the change's commit: the route stage reads it
                        enqueued += enqueue_after_commit(
                            app, proposal.ticket.id, start=Stage.route, queue=queue
                        )
            bar.update(count=plan.checked, detail=f"{len(plan.changes)} would change")
    _print_diff(plan)
    summary(_summary_line(plan, dry_run, deliver, applied, left, enqueued))


def _print_diff(plan: RetriagePlan) -> None:
    rows = [
        (f"{old_c or '-'} -> {new_c}", f"{old_d or '-'} -> {new_d}", n, ", ".join(ids))
        for (old_c, new_c, old_d, new_d), n, ids in plan.diff()
    ]
    if not rows:
        click.echo("no ticket would change")
        return
    width_c = max(len("category"), *(len(r[0]) for r in rows))
    width_d = max(len("department"), *(len(r[1]) for r in rows))
    click.echo(f"{'category':<{width_c}}  {'department':<{width_d}}  tickets  sample ids")
    for cat, dept, n, ids in rows:
        click.echo(f"{cat:<{width_c}}  {dept:<{width_d}}  {n:7d}  {ids}")


def _summary_line(
    plan: RetriagePlan, dry_run: bool, deliver: bool, applied: int, left: int, enqueued: int
) -> str:
    changed = len(plan.changes)
    kept = (
        f"{plan.unchanged} unchanged, {plan.corrected} kept (a person's category), "
        f"{plan.erased} erased, {plan.unanswered} without an answer; "
        f"{plan.to_review} more to review, {plan.from_review} out of review"
    )
    if dry_run:
        return (
            f"retriage (dry run, nothing written): {changed} of {plan.checked} would change; {kept}"
        )
    sent = f"{enqueued} enqueued for delivery" if deliver else "not delivered (use --deliver)"
    return (
        f"retriage: {applied} of {plan.checked} changed as new generations ({sent}); "
        f"{left} changed meanwhile and left alone; {kept}"
    )
