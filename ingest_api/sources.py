"""A source's rules, in one place, for every route that accepts tickets.

A route that stores tickets is decorated `@takes_tickets(...)` (below its `@requires`): the
decorator reads the raw body and enforces the source's rules before the view runs — a source
with webhook secrets must sign, the signature must verify, and the verified `webhook-id`
becomes the request's identity. The view reads the outcome with `checked_source()`, which
fails loudly if the check did not run. `install_source_rules` refuses to start an app with a
POST route that declares neither `@takes_tickets` nor `@takes_no_tickets`, so a new route
cannot forget the rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from ingest_api.auth import current_key
from ingest_api.bodies import read_raw_body
from ingest_api.context import api_context
from ingest_api.errors import ApiError
from ingest_api.signing import verify_source_signature
from pipeline.connectors import CONNECTORS, Connector, SignatureError
from pipeline.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

# Methods whose routes must say whether they accept tickets.
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Header keys are stored with a prefix (see pipeline.domain.models.identity_key) in 255 chars.
MAX_HEADER_KEY_LENGTH = 200


@dataclass(frozen=True)
class SourceCheck:
    """What the source check established: who sent the body, the body, its signed id."""

    source: str
    raw: bytes
    signed_id: str | None = None  # the verified `webhook-id`, on a signed request
    connector: Connector | None = None  # the helpdesk, on a connector's webhook route


def checked_source() -> SourceCheck:
    """The outcome of this request's source check; RuntimeError if it did not run."""
    check: SourceCheck | None = g.get("source_check")
    if check is None:
        raise RuntimeError("a ticket route ran without @takes_tickets: source rules not checked")
    return check


def header_key() -> str | None:
    """The unsigned `Idempotency-Key` (else an unverified `webhook-id`), length-checked (422)."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        key = request.headers.get("webhook-id")
    if key is not None and not 0 < len(key) <= MAX_HEADER_KEY_LENGTH:
        raise ApiError(
            422,
            "invalid_idempotency_key",
            f"idempotency key must be 1 to {MAX_HEADER_KEY_LENGTH} characters",
            None,
        )
    return key


def api_key_source(max_bytes: Callable[[Settings], int]) -> Callable[..., SourceCheck]:
    """The rules of an API key's source: signed (and verified) if it has webhook secrets."""

    def check(**_: Any) -> SourceCheck:
        raw = read_raw_body(max_bytes(api_context().settings))
        signed = verify_source_signature(raw)
        signed_id = request.headers.get("webhook-id") if signed else None
        if signed_id is not None and len(signed_id) > MAX_HEADER_KEY_LENGTH:
            raise ApiError(
                422,
                "invalid_idempotency_key",
                f"webhook-id must be 1 to {MAX_HEADER_KEY_LENGTH} characters",
                None,
            )
        return SourceCheck(current_key().source, raw, signed_id)

    return check


def connector_source(connector: str, **_: Any) -> SourceCheck:
    """The rules of a helpdesk: a secret must be configured and its signature must verify."""
    spec = CONNECTORS.get(connector)
    if spec is None:
        raise ApiError(
            404, "unknown_connector", f"no connector {connector!r}", {"known": sorted(CONNECTORS)}
        )
    settings = api_context().settings
    secrets = settings.connector_secrets(spec.name)
    raw = _connector_body(spec, settings.max_ticket_bytes, has_secret=bool(secrets))
    window = timedelta(seconds=settings.webhook_replay_window_s)
    try:
        spec.verify(dict(request.headers), raw, secrets, datetime.now(UTC), window)
    except SignatureError as error:
        raise ApiError(
            401,
            error.code,
            str(error),
            {"connector": spec.name},
            {"WWW-Authenticate": f'Signature realm="{spec.name}"'},
        ) from None
    return SourceCheck(spec.name, raw, None, spec)


def _connector_body(spec: Connector, max_bytes: int, *, has_secret: bool) -> bytes:
    """The raw body; 401 first when nothing can verify it, then 415 and 413."""
    if not has_secret:
        raise ApiError(
            401,
            "webhook_not_configured",
            f"set TRIAGE_{spec.name.upper()}_WEBHOOK_SECRET to take {spec.name} webhooks",
            {"connector": spec.name},
        )
    if request.mimetype not in spec.content_types:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"{spec.name} webhooks are {' or '.join(spec.content_types)}",
            {"content_type": request.mimetype or None},
        )
    request.max_content_length = max_bytes
    try:
        return request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise ApiError(
            413, "body_too_large", f"body exceeds {max_bytes} bytes", {"max_bytes": max_bytes}
        ) from None


def takes_tickets(rules: Callable[..., SourceCheck]) -> Callable[[F], F]:
    """Route decorator (below `@requires`): enforce the source's rules before the view runs."""

    def decorate(view: F) -> F:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            g.source_check = rules(**kwargs)
            return view(*args, **kwargs)

        checked.accepts_tickets = True  # type: ignore[attr-defined]
        return checked  # type: ignore[return-value]

    return decorate


def takes_no_tickets(view: F) -> F:
    """Mark a write route that stores no ticket (re-runs, corrections, erasure)."""
    view.accepts_tickets = False  # type: ignore[attr-defined]
    return view


def install_source_rules(app: Flask) -> None:
    """Refuse to start if a write route does not say whether it accepts tickets."""
    for rule in app.url_map.iter_rules():
        if not (rule.methods or set()) & WRITE_METHODS or rule.endpoint.startswith("console."):
            continue
        view = app.view_functions[rule.endpoint]
        if getattr(view, "accepts_tickets", None) is None:
            raise LookupError(
                f"route {rule.rule} ({rule.endpoint}) must be @takes_tickets or @takes_no_tickets"
            )


def ticket_routes(app: Flask) -> list[str]:
    """The endpoints that accept tickets (for tests and the OpenAPI document)."""
    return sorted(
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if getattr(app.view_functions[rule.endpoint], "accepts_tickets", False)
    )


# Request headers of the ticket routes, as the OpenAPI document states them.
IDENTITY_HEADERS: dict[str, dict[str, Any]] = {
    "Idempotency-Key": {
        "description": "retry key of an unsigned request without external_id (ignored when "
        "the body has one, or on a signed request, whose webhook-id is its identity)",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_HEADER_KEY_LENGTH},
    },
}
