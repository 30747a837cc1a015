"""Liveness and readiness."""

from __future__ import annotations

from unittest import mock

from flask.testing import FlaskClient

from pipeline.store.tickets import TicketStore


def test_healthz(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_ready(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    checks = response.get_json()["checks"]
    assert (checks["store"], checks["broker"]) == ({"ok": True}, {"ok": True})
    assert checks["departments"]["open_circuits"] == {}


def test_readyz_reports_the_store_down(client: FlaskClient, store: TicketStore) -> None:
    with mock.patch.object(store, "ping", side_effect=ConnectionError("down")):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["store"] == {"ok": False, "error": "ConnectionError"}


def test_readyz_lists_open_circuits(client: FlaskClient, api) -> None:  # type: ignore[no-untyped-def]
    circuits = api.extensions["triage"].circuits
    for _ in range(circuits.threshold):
        circuits.record_failure("finance")
    response = client.get("/readyz")
    assert response.status_code == 200
    assert set(response.get_json()["checks"]["departments"]["open_circuits"]) == {"finance"}
