"""Sign-in with an API key, and sign-out."""

from __future__ import annotations

import secrets
import time

from flask import Response, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from ingest_api.auth import client_address
from ingest_api.console.base import CONSOLE_ROLES, console
from ingest_api.context import api_context
from pipeline.operations.api_keys import AuthThrottled


@console.get("/")
def home() -> BaseResponse:
    """The console starts at the review queue."""
    return redirect(url_for("console.review"))


@console.get("/login")
def login() -> str:
    """The sign-in form."""
    return render_template("login.html", next=_safe_next(request.args.get("next")), error=None)


@console.post("/login")
def login_submit() -> BaseResponse | tuple[str, int] | tuple[str, int, dict[str, str]]:
    """Check the key as the API does; start a session that remembers its prefix, not the key."""
    presented = (request.form.get("api_key") or "").strip()
    target = _safe_next(request.form.get("next"))
    try:
        # Counted per address with the API's failed authentications: the same keys.
        key = api_context().keys.verify(presented, address=client_address()) if presented else None
    except AuthThrottled as throttled:
        exceeded = throttled.exceeded
        page = render_template(
            "login.html",
            next=target,
            error=f"too many failed sign-ins from this address ({exceeded.limit}); "
            f"try again in {exceeded.retry_after_s} s",
        )
        return page, 429, {"Retry-After": str(exceeded.retry_after_s)}
    if key is None:
        page = render_template("login.html", next=target, error="invalid or revoked API key")
        return page, 401
    if key.role not in CONSOLE_ROLES:
        page = render_template(
            "login.html", next=target, error=f"a {key.role.value} key cannot use the console"
        )
        return page, 403
    session.clear()  # a fresh session (and CSRF token) per sign-in
    session.update(
        key_prefix=key.prefix, name=key.name, seen=int(time.time()), csrf=secrets.token_urlsafe(32)
    )
    return redirect(target)


@console.route("/logout", methods=["GET", "POST"])
def logout() -> Response | BaseResponse:
    """End the session."""
    session.clear()
    return redirect(url_for("console.login"))


def _safe_next(target: str | None) -> str:
    # Only back into the console: an open redirect would let a link send people elsewhere.
    if target and target.startswith("/console/") and not target.startswith("//"):
        return target
    return url_for("console.review")
