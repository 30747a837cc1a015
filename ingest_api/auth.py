"""Authentication by API key (`X-API-Key` or `Authorization: Bearer`) and role checks."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, request

from ingest_api.context import api_context
from ingest_api.errors import ApiError
from pipeline.domain.operator import ApiKey, Role
from pipeline.operations.api_keys import AuthThrottled
from pipeline.ports import RateLimitExceeded

F = TypeVar("F", bound=Callable[..., Any])

# Which roles may call a route that needs `role`: admins may do everything.
ALLOWED: dict[Role, frozenset[Role]] = {
    Role.producer: frozenset({Role.producer, Role.admin}),
    Role.reader: frozenset({Role.reader, Role.reviewer, Role.admin}),
    # Reviewers correct categories and replay tickets (the review console's people).
    Role.reviewer: frozenset({Role.reviewer, Role.admin}),
    Role.admin: frozenset({Role.admin}),
}


def presented_key() -> str | None:
    """The key from `X-API-Key`, else from `Authorization: Bearer <key>`."""
    key = request.headers.get("X-API-Key")
    if key:
        return key.strip()
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def client_address() -> str:
    """The peer address failed authentications are counted against.

    The socket's peer: behind a proxy, the proxy must be the one to limit per client.
    """
    return request.remote_addr or "unknown"


def current_key() -> ApiKey:
    """The key that authenticated this request (inside a `requires` route)."""
    key: ApiKey = g.api_key
    return key


def requires(role: Role) -> Callable[[F], F]:
    """Route decorator: 401 without a valid key, 403 when the key's role may not do this."""

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            key = presented_key()
            if key is None:
                raise _unauthorized("missing API key: send X-API-Key or Authorization: Bearer")
            try:
                verified = api_context().keys.verify(key, address=client_address())
            except AuthThrottled as throttled:
                raise _throttled(throttled.exceeded) from None
            if verified is None:
                raise _unauthorized("invalid or revoked API key")
            if verified.role not in ALLOWED[role]:
                raise ApiError(
                    403,
                    "forbidden",
                    f"a {verified.role.value} key cannot do this",
                    {"required_role": role.value, "key_role": verified.role.value},
                )
            exceeded = api_context().rate_limiter.hit(verified.name)
            if exceeded is not None:
                raise ApiError(
                    429,
                    "rate_limited",
                    f"rate limit {exceeded.limit} exceeded for this key",
                    {"limit": exceeded.limit, "retry_after_s": exceeded.retry_after_s},
                    {"Retry-After": str(exceeded.retry_after_s)},
                )
            g.api_key = verified
            return view(*args, **kwargs)

        guarded.required_role = role  # type: ignore[attr-defined]  # read by the OpenAPI builder
        return guarded  # type: ignore[return-value]

    return decorate


def _throttled(exceeded: RateLimitExceeded) -> ApiError:
    return ApiError(
        429,
        "rate_limited",
        f"too many failed authentications from this address ({exceeded.limit})",
        {"limit": exceeded.limit, "retry_after_s": exceeded.retry_after_s},
        {"Retry-After": str(exceeded.retry_after_s)},
    )


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, None, {"WWW-Authenticate": "Bearer"})
