"""`triage ticket`: one ticket's state and trail; correct its category or replay it."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pipeline.domain.errors import TicketNotFound
from pipeline.domain.models import AuditEntry, TicketRecord
from pipeline.operations.replay import TicketBusy

if TYPE_CHECKING:
    from celery import Celery

    from pipeline.wiring import Services

T = TypeVar("T")
WIDTH = 100


def _services() -> tuple[Celery, Services]:
    from workers.celery_app import default_app, services_for

    app = default_app()  # the same settings, store and broker as the workers
    return app, services_for(app)


def _lookup(services: Services, read: Callable[[], T], ticket_id: str) -> T:
    """`read()`, turning an unknown id into one line that names the store searched."""
    from triage_cli.status import where

    try:
        return read()
    except TicketNotFound:
        raise click.ClickException(
            f"no ticket {ticket_id} in the store at {where(services.settings.database_url)} "
            "(TRIAGE_DATABASE_URL)"
        ) from None


def _enqueued(sent: bool) -> str:
    return "enqueued" if sent else "not enqueued (broker unreachable): the sweeper will send it"


@click.group()
def ticket() -> None:
    """One ticket: show it, its audit trail, correct its category, replay it."""


@ticket.command("show")
@click.argument("ticket_id")
@click.option("--json", "as_json", is_flag=True, help="the body GET /tickets/ID answers")
def show(ticket_id: str, as_json: bool) -> None:
    """The ticket with its classification, department, timestamps and last error."""
    _, services = _services()
    record = _lookup(services, lambda: services.store.get(ticket_id), ticket_id)
    if as_json:
        click.echo(json.dumps(api_view(record), indent=2, ensure_ascii=False))
    else:
        click.echo(render_ticket(record))


@ticket.command("logs")
@click.argument("ticket_id")
@click.option("--json", "as_json", is_flag=True, help="the body GET /tickets/ID/logs answers")
def logs(ticket_id: str, as_json: bool) -> None:
    """The ticket's audit trail, one line per event, oldest first."""
    _, services = _services()
    events = _lookup(services, lambda: services.store.audit_trail(ticket_id), ticket_id)
    if as_json:
        from ingest_api.presenters import audit_view
        from ingest_api.schemas import AuditLog

        body = AuditLog(ticket_id=ticket_id, events=[audit_view(e) for e in events])
        click.echo(json.dumps(body.model_dump(mode="json"), indent=2, ensure_ascii=False))
        return
    for entry in events:
        click.echo(render_event(entry))


@ticket.command("correct")
@click.argument("ticket_id")
@click.argument("category")
def correct(ticket_id: str, category: str) -> None:
    """Set a finished ticket's category (a training label); re-route if the department changes."""
    from pipeline.domain.lifecycle import Stage
    from pipeline.operations.corrections import UnknownCategory, correct_category
    from workers.chains import enqueue_after_commit

    app, services = _services()
    routing = services.routing
    try:
        change = _lookup(
            services,
            lambda: correct_category(
                services.store, routing, ticket_id, category, actor="cli:ticket-correct"
            ),
            ticket_id,
        )
    except UnknownCategory as error:
        raise click.ClickException(
            f"{error}; the routing file has: {', '.join(sorted(routing.categories))}"
        ) from None
    except TicketBusy as busy:
        raise click.ClickException(str(busy)) from None
    summary = f"ticket {ticket_id}: category {change.previous_category} -> {change.category}"
    if not change.rerouted:
        click.echo(f"{summary}; department {change.department} unchanged, nothing re-sent")
        return
    # After the correction's commit, as the API does: the route stage reads the new category.
    sent = enqueue_after_commit(app, ticket_id, start=Stage.route)
    click.echo(
        f"{summary}; department {change.previous_department} -> {change.department}; "
        f"re-route {_enqueued(sent)}"
    )


@ticket.command("replay")
@click.argument("ticket_id")
def replay(ticket_id: str) -> None:
    """Resume a finished ticket from the stage that failed (a new delivery generation)."""
    from pipeline.operations.replay import reopen_ticket
    from workers.chains import enqueue_after_commit

    app, services = _services()
    try:
        start = _lookup(
            services,
            lambda: reopen_ticket(services.store, ticket_id, None, actor="cli:ticket-replay"),
            ticket_id,
        )
    except TicketBusy as busy:
        raise click.ClickException(str(busy)) from None
    sent = enqueue_after_commit(app, ticket_id, start=start)  # after the reopening's commit
    click.echo(f"ticket {ticket_id}: reopened before {start.value}; {_enqueued(sent)}")


def api_view(record: TicketRecord) -> dict[str, Any]:
    """The ticket exactly as GET /tickets/{id} shows it."""
    from flask import Flask

    from ingest_api.presenters import ticket_view

    # The presenter builds its links from the request's script root: give it an empty one.
    with Flask("triage-cli").test_request_context():
        return ticket_view(record).model_dump(mode="json")


def render_ticket(record: TicketRecord) -> str:
    """The ticket as labelled lines, readable in a terminal."""
    decision = record.classification()
    rows: list[tuple[str, Any]] = [
        ("id", record.id),
        ("status", record.status),
        ("source", f"{record.source} (external id {record.external_id or '-'})"),
        ("queue", record.queue),
        ("customer", f"{record.customer_id}, priority {record.priority}"),
        ("subject", record.subject),
    ]
    if decision is None:
        rows.append(("category", "not classified yet"))
    else:
        rows += [
            ("category", f"{decision.category} (confidence {decision.confidence:.2f})"),
            ("urgency", _with_confidence(decision.urgency.value, decision.urgency_confidence)),
            (
                "sentiment",
                _with_confidence(decision.sentiment.value, decision.sentiment_confidence),
            ),
            ("language", decision.language),
            ("classifier", f"{decision.classifier} ({decision.model})"),
            ("reason", decision.reason),
        ]
    rows += [
        ("department", record.department or "-"),
        ("review reason", record.review_reason),
        ("generation", record.generation),
        ("attempts", record.attempts),
        ("failed stage", record.failed_stage),
        ("last error", record.last_error),
        ("next attempt", view_time(record.next_attempt_at)),
        ("created", view_time(record.created_at)),
        ("received", view_time(record.received_at)),
        ("updated", view_time(record.updated_at)),
        ("finished", view_time(record.finished_at)),
    ]
    lines = [_field(label, value) for label, value in rows if value not in (None, "")]
    lines.append("description")
    body = textwrap.wrap(record.description, WIDTH - 2, initial_indent="  ", subsequent_indent="  ")
    return "\n".join(lines + (body or ["  -"]))


def view_time(value: datetime | None) -> str:
    """A timestamp as the API writes it (ISO 8601 UTC with a Z), or "" for none."""
    from ingest_api.presenters import iso

    return iso(value) or ""


def _field(label: str, value: Any) -> str:
    text = " ".join(str(value).split())
    return f"{label:<14}{text}"


def render_event(entry: AuditEntry) -> str:
    """One audit event on one line: time, stage, event, attempt, then the detail as k=v."""
    detail = " ".join(
        f"{key}={_compact(value)}" for key, value in entry.detail.items() if value is not None
    )
    return (
        f"{view_time(entry.created_at)}  {entry.stage:<8} {entry.event:<16} "
        f"attempt {entry.attempt}  {detail}"
    ).rstrip()


def _compact(value: Any) -> str:
    if isinstance(value, str):
        text = " ".join(value.split())
        return json.dumps(text, ensure_ascii=False) if " " in text or not text else text
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _with_confidence(value: str, confidence: float | None) -> str:
    return value if confidence is None else f"{value} (confidence {confidence:.2f})"
