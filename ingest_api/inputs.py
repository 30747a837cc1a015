"""Path and query values: no control characters anywhere, and strict parsers for list queries."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from flask import Flask, request

from ingest_api.errors import ApiError
from pipeline.domain.lifecycle import TicketStatus
from pipeline.domain.models import DATE_TIME

_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
MAX_LIMIT = 500
DEFAULT_LIMIT = 100

# The list route's query parameters, exactly as parsed below (the OpenAPI document shows these).
LIST_QUERY: dict[str, str | dict[str, Any]] = {
    "status": {
        "description": "only tickets in this status; empty means any",
        "schema": {"type": "string", "enum": ["", *TicketStatus.__members__]},
    },
    "since": {
        "description": "only tickets updated at or after this RFC 3339 time (with an offset); "
        "empty means any",
        "schema": {"type": "string", "pattern": DATE_TIME.replace(")?$", ")$") + "|^$"},
    },
    "cursor": {
        "description": "next_cursor of the previous page; empty means the first page",
        "schema": {"type": "string", "pattern": "^[^\\u0000-\\u001f\\u007f]*$"},
    },
    "limit": {
        "description": f"page size, 1..{MAX_LIMIT} (default {DEFAULT_LIMIT})",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    },
}


def install_input_guards(app: Flask) -> None:
    """400 for a control character (NUL included) in any path or query value, before a view."""

    @app.before_request
    def _no_controls() -> None:
        values = [*(request.view_args or {}).values()]
        values += [item for pair in request.args.items(multi=True) for item in pair]
        if any(isinstance(v, str) and _CONTROLS.search(v) for v in values):
            raise ApiError(
                400,
                "invalid_characters",
                "path and query values may not contain control characters",
                None,
            )


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "validation_failed", message, [{"field": field}])


def list_status() -> str | None:
    """`status`: a ticket status, or None when absent or empty."""
    status = request.args.get("status") or None
    if status is not None and status not in TicketStatus.__members__:
        raise _invalid("status", "unknown status")
    return status


def list_limit() -> int:
    """`limit`: decimal digits only, 1..MAX_LIMIT; DEFAULT_LIMIT when absent."""
    raw = request.args.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]{1,4}", raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise _invalid("limit", f"limit must be an integer 1..{MAX_LIMIT}")
    return int(raw)


def list_since() -> datetime | None:
    """`since`: an RFC 3339 time with an offset, or None when absent or empty."""
    value = request.args.get("since") or None
    if value is None:
        return None
    if re.fullmatch(DATE_TIME, value) is None:
        raise _invalid("since", "since must be an RFC 3339 time")
    try:
        parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise _invalid("since", "since must be an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise _invalid("since", "since needs a timezone")
    return parsed


def list_cursor() -> str | None:
    """`cursor`: the last id of the previous page, or None when absent or empty."""
    return request.args.get("cursor") or None
