"""Ingest baseline (a): a bare Flask endpoint answering 202, under the same gunicorn settings."""

from __future__ import annotations

from flask import Flask, request

app = Flask("bench_bare")


@app.post("/tickets")
def accept() -> tuple[dict[str, str], int]:
    """Read the body (as every endpoint must) and answer 202 without doing anything."""
    request.get_data()
    return {"id": "bare", "status": "received"}, 202


@app.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness, for the bench's start-up wait."""
    return {"status": "ok"}
