"""Ticket search with the API's cursor, and one ticket's page: decision, trail, deliveries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from ingest_api.console.actions import decide, rerun
from ingest_api.console.base import console, console_error, signed_in
from ingest_api.context import api_context
from pipeline.domain.lifecycle import Stage, TicketStatus
from pipeline.domain.operator import Role
from pipeline.domain.review import TicketSearch, top_alternatives

PAGE = 50
FIELDS = ("ticket_id", "external_id", "customer_id", "status", "category", "source", "text")
RERUNS = {"classify": Stage.classify, "route": Stage.route, "replay": None}


@console.get("/tickets")
@signed_in(Role.reader)
def tickets() -> str | tuple[str, int]:
    """Search tickets, newest first; `cursor` is the last id of the previous page."""
    values: dict[str, Any] = {
        name: (request.args.get(name) or "").strip() or None for name in FIELDS
    }
    problems: list[str] = []
    if values["status"] and values["status"] not in TicketStatus.__members__:
        problems.append("unknown status")
    received_from = _day(request.args.get("from"), problems)
    received_to = _day(request.args.get("to"), problems)
    found: list[Any] = []
    if not problems:
        search = TicketSearch(
            **values,
            received_from=received_from,
            received_to=received_to + timedelta(days=1) if received_to else None,
        )
        found = api_context().store.reports.search_tickets(
            search, after_id=request.args.get("cursor") or None, limit=PAGE
        )
    next_args: dict[str, Any] | None = None
    if len(found) == PAGE:
        next_args = {k: v for k, v in request.args.items() if k != "cursor" and v}
        next_args["cursor"] = found[-1].id
    page = render_template(
        "tickets.html",
        tickets=found,
        args=request.args,
        statuses=[s.value for s in TicketStatus],
        categories=sorted(api_context().routing.categories),
        next_url=url_for("console.tickets", **next_args) if next_args else None,
        problems=problems,
    )
    return (page, 422) if problems else page


@console.get("/tickets/<ticket_id>")
@signed_in(Role.reader)
def ticket(ticket_id: str) -> str:
    """The ticket, its trail as a timeline, and every delivery with its response."""
    store = api_context().store
    record = store.get(ticket_id)  # TicketNotFound: the API's 404 handler answers
    trail = store.audit_trail(ticket_id)
    detail = next((e.detail for e in reversed(trail) if e.event == "classified"), {})
    return render_template(
        "ticket.html",
        ticket=record,
        trail=trail,
        deliveries=store.deliveries(ticket_id),
        alternatives=top_alternatives(detail),
        categories=sorted(api_context().routing.categories),
    )


@console.post("/tickets/<ticket_id>/category")
@signed_in(Role.reviewer)
def ticket_category(ticket_id: str) -> BaseResponse:
    """Correct the category from the ticket page."""
    outcome = decide(ticket_id, (request.form.get("category") or "").strip())
    flash(outcome.message, "ok" if outcome.ok else "error")
    return redirect(url_for("console.ticket", ticket_id=ticket_id))


@console.post("/tickets/<ticket_id>/<action>")
@signed_in(Role.reviewer)
def ticket_rerun(ticket_id: str, action: str) -> BaseResponse:
    """Re-classify or re-route (admins), or replay where it failed (reviewers too)."""
    if action not in RERUNS:
        return console_error(404, "not_found", f"no action {action!r}")
    if action != "replay" and not _is_admin():
        return console_error(403, "forbidden", f"only an admin key may {action} again")
    outcome = rerun(ticket_id, RERUNS[action])
    flash(outcome.message, "ok" if outcome.ok else "error")
    return redirect(url_for("console.ticket", ticket_id=ticket_id))


def _is_admin() -> bool:
    return bool(g.console_key.role == Role.admin)


def _day(value: str | None, problems: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        problems.append(f"{value!r} is not a date (YYYY-MM-DD)")
        return None
