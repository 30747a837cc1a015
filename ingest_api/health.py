"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from ingest_api.context import ApiContext, api_context
from ingest_api.openapi import build_openapi, documented
from ingest_api.schemas import Health, Readiness
from pipeline.telemetry.metrics import metrics_exposition

health = Blueprint("health", __name__)


@health.get("/healthz")
@documented("Liveness: the process answers", {200: Health})
def healthz() -> Response:
    """The process answers."""
    return jsonify({"status": "ok"})


@health.get("/readyz")
@documented("Readiness: store and broker reachable", {200: Readiness, 503: Readiness})
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
    try:
        # Informational: an open circuit delays deliveries but does not stop ingest.
        checks["departments"] = {"ok": True, "open_circuits": context.circuits.open_circuits()}
    except Exception as error:
        checks["departments"] = {"ok": True, "open_circuits": None, "error": type(error).__name__}
    degraded = _llm_budget_check(context, checks)
    body: dict[str, Any] = {"status": "ready" if ready else "not_ready", "checks": checks}
    if degraded:
        # Still ready (this API ingests); the classify stage falls back to TRIAGE_LLM_FALLBACKS.
        body["degraded"] = degraded
    if not ready:
        body["error"] = {
            "code": "not_ready",
            "message": "a dependency is unreachable",
            "details": checks,
        }
    return jsonify(body), 200 if ready else 503


def _llm_budget_check(context: ApiContext, checks: dict[str, Any]) -> list[str]:
    """Informational: TRIAGE_LLM_MONTHLY_BUDGET against the month's spend; degraded names."""
    budget = context.settings.llm_monthly_budget
    if budget is None or context.spend is None:
        return []
    try:
        spent = context.spend.month_to_date()
    except Exception as error:
        checks["llm_budget"] = {"ok": True, "budget_usd": budget, "error": type(error).__name__}
        return []
    reached = spent >= budget
    checks["llm_budget"] = {
        "ok": True,
        "degraded": reached,
        "spent_usd": round(spent, 4),
        "budget_usd": budget,
        **({"message": "monthly budget reached: the LLM tiers are skipped"} if reached else {}),
    }
    return ["llm_budget"] if reached else []


@health.get("/metrics")
@documented("Prometheus metrics (API and worker processes on this host)", {200: None})
def metrics() -> Response:
    """Prometheus text exposition, including queue depths and tickets by status."""
    context = api_context()
    body, content_type = metrics_exposition(context.state_collector)
    return Response(body, content_type=content_type)


@health.get("/openapi.json")
@documented("This OpenAPI 3.1 document", {200: None})
def openapi_document() -> Response:
    """The OpenAPI document, generated from the routes and models."""
    return jsonify(build_openapi(current_app))
