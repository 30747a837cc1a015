"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from ingest_api.context import api_context

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz() -> Response:
    """The process answers."""
    return jsonify({"status": "ok"})


@health.get("/readyz")
def readyz() -> tuple[Response, int]:
    """The store and the broker are reachable (503 with details when one is not)."""
    context = api_context()
    checks: dict[str, Any] = {}
    try:
        context.store.ping()
        checks["store"] = {"ok": True}
    except Exception as error:
        checks["store"] = {"ok": False, "error": type(error).__name__}
    try:
        with context.celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = {"ok": True}
    except Exception as error:
        checks["broker"] = {"ok": False, "error": type(error).__name__}
    ready = all(check["ok"] for check in checks.values())
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    if not ready:
        body["error"] = {
            "code": "not_ready",
            "message": "a dependency is unreachable",
            "details": checks,
        }
    return jsonify(body), 200 if ready else 503
