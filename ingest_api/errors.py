"""Every error as JSON: `{"error": {"code", "message", "details"}}`, never HTML or a traceback."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from pipeline.domain.errors import TicketNotFound
from pipeline.store import STORE_DATA_ERRORS, STORE_OUTAGES, outage_cause

log = logging.getLogger("triage.api")

STORE_RETRY_AFTER_S = 5

# Stable machine-readable codes for the HTTP errors Werkzeug raises itself.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    503: "unavailable",
}


class ApiError(Exception):
    """An error answer with a status, a stable code, a message and optional details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> Response:
    """The JSON error body with its status and headers."""
    response = jsonify({"error": {"code": code, "message": message, "details": details}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def register_error_handlers(app: Flask) -> None:
    """Turn every exception a request can raise into a JSON error answer."""

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error_response(error.status, error.code, error.message, error.details, error.headers)

    @app.errorhandler(TicketNotFound)
    def _not_found(error: TicketNotFound) -> Response:
        return error_response(404, "ticket_not_found", str(error))

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = HTTP_CODES.get(status, "http_error")
        headers = dict(error.get_headers()) if status in (405, 429) else {}
        headers.pop("Content-Type", None)
        return error_response(status, code, error.description or error.name, None, headers)

    def _store_down(error: Exception) -> Response:
        # The producer retries on 503: nothing was acknowledged, so nothing is lost.
        log.error("store unavailable: %s", outage_cause(error))
        return error_response(
            503,
            "store_unavailable",
            "the ticket store is unavailable; retry later",
            None,
            {"Retry-After": str(STORE_RETRY_AFTER_S)},
        )

    for outage in STORE_OUTAGES:
        app.register_error_handler(outage, _store_down)

    def _store_refused(error: Exception) -> Response:
        # The data, not the store: retrying the same request would fail again, so no 503.
        log.warning("store refused the data: %s", outage_cause(error))
        return error_response(
            422,
            "unstorable_value",
            "the store cannot hold a value of this request",
            {"cause": outage_cause(error)},
        )

    for refused in STORE_DATA_ERRORS:
        app.register_error_handler(refused, _store_refused)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unexpected error")
        return error_response(500, "internal_error", "internal error; it has been logged")
