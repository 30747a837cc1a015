"""The review queue: needs_review tickets, oldest first, confirmed or corrected by keyboard."""

from __future__ import annotations

from typing import Any

from flask import Response, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from ingest_api.console.actions import Outcome, decide
from ingest_api.console.base import console, console_error, signed_in, wants_json
from ingest_api.context import api_context
from pipeline.domain.lifecycle import TicketStatus
from pipeline.domain.models import TicketRecord
from pipeline.domain.operator import Role
from pipeline.domain.review import TicketSearch, top_alternatives

QUEUE_PAGE = 50
FILTERS = ("category", "source", "language", "classifier")
MAX_BULK = 200


@console.get("/review")
@signed_in(Role.reader)
def review() -> str:
    """The queue page, with its filters and the keyboard legend."""
    return render_template("review.html", **_queue())


@console.get("/review/queue")
@signed_in(Role.reader)
def review_queue() -> str:
    """The queue's cards alone: the page's script polls this and adds new tickets."""
    return render_template("_cards.html", **_queue())


@console.post("/review/<ticket_id>")
@signed_in(Role.reviewer)
def review_decide(ticket_id: str) -> Response | BaseResponse:
    """Confirm (the same category) or correct (another) one ticket."""
    category = (request.form.get("category") or "").strip()
    if not category:
        return console_error(422, "validation_failed", "choose a category")
    return _answer([decide(ticket_id, category)])


@console.post("/review/bulk")
@signed_in(Role.reviewer)
def review_bulk() -> Response | BaseResponse:
    """Confirm every selected ticket's current category."""
    ids = request.form.getlist("ticket_id")[:MAX_BULK]
    store = api_context().store
    outcomes: list[Outcome] = []
    for ticket_id in ids:
        category = store.get(ticket_id).category
        outcomes.append(
            decide(ticket_id, category)
            if category
            else Outcome(ticket_id, False, "no category to confirm")
        )
    return _answer(outcomes)


def _answer(outcomes: list[Outcome]) -> Response | BaseResponse:
    if wants_json():
        body = [{"id": o.ticket_id, "ok": o.ok, "message": o.message} for o in outcomes]
        status = 200 if all(o.ok for o in outcomes) else 409
        response = jsonify({"results": body})
        response.status_code = status
        return response
    for outcome in outcomes:
        flash(f"{outcome.ticket_id[:8]}: {outcome.message}", "ok" if outcome.ok else "error")
    return redirect(request.referrer or url_for("console.review"))


def _queue() -> dict[str, Any]:
    context = api_context()
    chosen: dict[str, Any] = {name: (request.args.get(name) or None) for name in FILTERS}
    search = TicketSearch(status=TicketStatus.needs_review.value, **chosen)
    tickets = context.store.reports.search_tickets(search, limit=QUEUE_PAGE, oldest_first=True)
    return {
        "tickets": tickets,
        "cards": [_card(ticket) for ticket in tickets],
        "filters": chosen,
        "categories": sorted(context.routing.categories),
    }


def _card(ticket: TicketRecord) -> dict[str, Any]:
    # The latest decision's audit detail holds what the ticket row does not: scores.
    trail = api_context().store.audit_trail(ticket.id)
    detail = next((e.detail for e in reversed(trail) if e.event == "classified"), {})
    return {"ticket": ticket, "alternatives": top_alternatives(detail)}
