"""The API as a WSGI application for a server that imports it (granian's factory target).

Each server worker process calls `build` once: settings are read then, never at import.
"""

from __future__ import annotations

from typing import Any

# What gunicorn enforces before the app sees a request (its limit_request_line and
# limit_request_field_size defaults): applied here so every server answers them as our JSON.
MAX_REQUEST_TARGET = 4094
MAX_HEADER_FIELD = 8190


def build() -> Any:
    """The ingest API for this process, wrapped in the request-size limits."""
    from ingest_api.app import create_app
    from pipeline.settings import Settings
    from pipeline.telemetry.logs import configure_logging

    settings = Settings()
    configure_logging(settings)
    return RequestLimits(create_app(settings))


class RequestLimits:
    """WSGI middleware: 414 for an over-long request target, 431 for an over-long header."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        target = len(environ.get("PATH_INFO", "")) + len(environ.get("QUERY_STRING", "")) + 1
        if target > MAX_REQUEST_TARGET:
            return _error(start_response, "414 URI Too Long", "uri_too_long")
        for name, value in environ.items():
            if name.startswith("HTTP_") and len(name) + len(str(value)) > MAX_HEADER_FIELD:
                return _error(
                    start_response, "431 Request Header Fields Too Large", "headers_too_large"
                )
        return self.app(environ, start_response)


def _error(start_response: Any, status: str, code: str) -> list[bytes]:
    import json

    reason = status.split(" ", 1)[1]
    body = json.dumps({"error": {"code": code, "message": reason, "details": None}}).encode()
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ],
    )
    return [body]
