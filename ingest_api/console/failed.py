"""Failed tickets grouped by their last error; replay one, or a whole group."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from ingest_api.console.actions import rerun
from ingest_api.console.base import console, signed_in
from ingest_api.context import api_context
from pipeline.domain.lifecycle import TicketStatus
from pipeline.domain.models import TicketRecord
from pipeline.domain.operator import Role
from pipeline.domain.review import TicketSearch

LIMIT = 1000  # failed tickets shown; a bigger pile is a `triage ticket replay` job
MAX_REPLAY = 1000


@dataclass
class FailureGroup:
    """Failed tickets that share a last error."""

    error: str
    tickets: list[TicketRecord] = field(default_factory=list)


@console.get("/failed")
@signed_in(Role.reader)
def failed() -> str:
    """Failed tickets by last error, largest group first."""
    found = api_context().store.reports.search_tickets(
        TicketSearch(status=TicketStatus.failed.value), limit=LIMIT
    )
    groups: dict[str, FailureGroup] = {}
    for ticket in found:
        error = " ".join((ticket.last_error or "(no error recorded)").split())
        groups.setdefault(error, FailureGroup(error)).tickets.append(ticket)
    ordered = sorted(groups.values(), key=lambda g: len(g.tickets), reverse=True)
    return render_template("failed.html", groups=ordered, total=len(found))


@console.post("/failed/replay")
@signed_in(Role.reviewer)
def failed_replay() -> BaseResponse:
    """Replay the posted tickets (one, or a group's) from the stage that failed."""
    outcomes = [rerun(t, None) for t in request.form.getlist("ticket_id")[:MAX_REPLAY]]
    done = sum(o.ok for o in outcomes)
    flash(f"replayed {done} of {len(outcomes)} ticket(s)", "ok" if done else "error")
    for outcome in outcomes:
        if not outcome.ok:
            flash(f"{outcome.ticket_id[:8]}: {outcome.message}", "error")
    return redirect(url_for("console.failed"))
