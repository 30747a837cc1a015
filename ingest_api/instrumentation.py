"""Ingest metrics: latency of POST /tickets, and rejections by their error code."""

from __future__ import annotations

import json
import time

from flask import Flask, Response, g, request

from pipeline.telemetry.metrics import INGEST_SECONDS, TICKETS_REJECTED

INGEST_ENDPOINTS = frozenset({"tickets.create_ticket"})


def register_ingest_metrics(app: Flask) -> None:
    """Time every ingest request and count its rejections by reason."""

    @app.before_request
    def _start_timer() -> None:
        if request.endpoint in INGEST_ENDPOINTS:
            g.ingest_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.pop("ingest_started", None)
        if started is None:
            return response
        INGEST_SECONDS.observe(time.perf_counter() - started)
        if response.status_code >= 400:
            TICKETS_REJECTED.labels(_error_code(response)).inc()
        return response


def _error_code(response: Response) -> str:
    try:
        return str(json.loads(response.get_data())["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return f"http_{response.status_code}"
