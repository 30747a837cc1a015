"""The console blueprint and what every page shares: the session, CSRF, roles, headers."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import quote

from flask import (
    Blueprint,
    Flask,
    Request,
    Response,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface

from ingest_api.auth import ALLOWED
from ingest_api.context import api_context
from ingest_api.errors import error_response
from pipeline.domain.operator import ApiKey, Role

F = TypeVar("F", bound=Callable[..., Any])

console = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'"
)
CONSOLE_ROLES = frozenset({Role.reader, Role.reviewer, Role.admin})


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        """Secure when this request is HTTPS (directly or per ProxyFix), else as configured."""
        current: Request = request
        return bool(current.is_secure or super().get_cookie_secure(app))


def install_console(app: Flask, pepper: bytes) -> None:
    """Register the console on the API app; its session secret is derived from the pepper."""
    # Derived, not random: sessions survive restarts and every gunicorn worker agrees.
    app.secret_key = hmac.new(pepper, b"triage-console-session", hashlib.sha256).hexdigest()
    app.session_interface = ConsoleSessionInterface()
    app.config.update(
        SESSION_COOKIE_NAME="triage_console",
        SESSION_COOKIE_PATH="/console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
    )
    app.register_blueprint(console)


def wants_json() -> bool:
    """Whether the caller is the console's script (or an API client), not a page load."""
    return request.accept_mimetypes.best == "application/json" or bool(
        request.headers.get("X-CSRF-Token")
    )


def console_error(status: int, code: str, message: str) -> Response:
    """A JSON error for scripts, a small page for the browser; never a traceback."""
    if wants_json():
        return error_response(status, code, message)
    page = render_template("error.html", status=status, code=code, message=message)
    return Response(page, status=status, mimetype="text/html")


@console.before_request
def _load_session() -> Response | None:
    g.console_key = None
    if request.endpoint == "console.static":
        return None
    now = time.time()
    prefix = session.get("key_prefix")
    if prefix is not None:
        idle_s = api_context().settings.console_idle_minutes * 60
        key = api_context().keys.active(prefix)
        if now - float(session.get("seen", 0)) > idle_s or key is None:
            session.clear()  # idle too long, or the key was revoked: sign in again
        else:
            g.console_key = key
            session["seen"] = int(now)
    if request.method == "POST" and not _csrf_ok():
        return console_error(403, "csrf_failed", "missing or wrong CSRF token; reload the page")
    return None


@console.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@console.app_template_global()
def csrf_token() -> str:
    """This session's CSRF token (created on first use)."""
    token = session.get("csrf")
    if token is None:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


@console.app_template_global()
def may(role: str) -> bool:
    """Whether the signed-in key's role may do what `role` may."""
    key: ApiKey | None = g.get("console_key")
    return key is not None and key.role in ALLOWED[Role(role)]


def _csrf_ok() -> bool:
    expected = session.get("csrf")
    given = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    return bool(expected) and hmac.compare_digest(str(expected), given)


def signed_in(role: Role) -> Callable[[F], F]:
    """View decorator: sign-in page without a session, 403 when the key's role may not."""

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            key: ApiKey | None = g.console_key
            if key is None:
                if request.method != "GET" or wants_json():
                    return console_error(401, "unauthorized", "sign in to the console first")
                return redirect(url_for("console.login") + "?next=" + quote(request.full_path))
            if key.role not in ALLOWED[role]:
                return console_error(
                    403, "forbidden", f"a {key.role.value} key cannot do this ({role.value} needed)"
                )
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate


def current_actor() -> str:
    """The audit's name for the signed-in person: their key, as the JSON API names it."""
    key: ApiKey = g.console_key
    return f"key:{key.name}"
