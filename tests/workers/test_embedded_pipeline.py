"""The Celery plumbing end to end in one process: HTTP ingest → real worker → HTTP department."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from celery.contrib.testing.worker import start_worker

from ingest_api.app import create_app
from pipeline.adapters.http_delivery import HttpDepartmentClient
from pipeline.classifiers.scripted import ScriptedClassifier
from pipeline.domain.lifecycle import FINAL_STATUSES
from pipeline.domain.routing import load_routing
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore
from pipeline.wiring import Services
from tests.conftest import admin_key, decision
from tests.support.broker import purge_queues
from tests.support.waiting import wait_for
from triage_cli.demo import demo_routing_file
from triage_cli.stub_departments import StubDepartments, serve_in_thread
from workers.celery_app import create_celery_app


@pytest.fixture
def departments() -> Iterator[tuple[StubDepartments, str]]:  # type: ignore[override]
    stub = StubDepartments()
    with serve_in_thread(stub) as url:
        yield stub, url


@pytest.fixture
def pipeline_api(
    settings: Settings,
    store: TicketStore,
    classifier: ScriptedClassifier,
    departments: tuple[StubDepartments, str],
    tmp_path: Path,
) -> Iterator[str]:
    routing = load_routing(demo_routing_file(tmp_path, departments[1]))
    services = Services(
        settings=settings,
        store=store,
        routing=routing,
        departments=HttpDepartmentClient(5.0),
        classifier=classifier,
    )
    app = create_celery_app(settings, services=services)
    purge_queues(app, "live", "backfill")
    with (
        start_worker(
            app, pool="threads", concurrency=4, perform_ping_check=False, loglevel="WARNING"
        ),
        serve_in_thread(create_app(settings, store=store, celery_app=app)) as url,
    ):
        yield url


def test_tickets_flow_through_http_worker_and_department(
    pipeline_api: str, store: TicketStore, departments: tuple[StubDepartments, str]
) -> None:
    stub, _ = departments
    subjects = ["refund for order", "shipping is late", "app crash technical", "invoice"] * 5
    with httpx.Client(base_url=pipeline_api, headers={"X-API-Key": admin_key(store)}) as client:
        ids = [
            client.post(
                "/tickets", json={"subject": s, "description": "help", "customer_id": "c"}
            ).json()["id"]
            for s in subjects
        ]
        wait_for(
            lambda: all(
                client.get(f"/tickets/{i}").json()["status"] in FINAL_STATUSES for i in ids
            ),
            timeout=30,
            what="every ticket final",
        )
        ticket = client.get(f"/tickets/{ids[0]}").json()
        logs = client.get(f"/tickets/{ids[0]}/logs").json()["events"]

    assert store.count_by_status(ids) == {"done": 20}
    assert ticket["classification"]["category"] == "refund"
    assert ticket["department"] == "finance"
    assert [e["event"] for e in logs] == ["received", "classified", "delivered", "closed"]
    received = stub.snapshot()
    assert sorted(d.body["id"] for d in received) == sorted(ids)
    assert stub.duplicates() == 0
    by_id = {d.body["id"]: d for d in received}
    assert by_id[ids[0]].department == "finance"
    assert by_id[ids[0]].idempotency_key == f"{ids[0]}:1"


def test_rerun_route_delivers_a_new_generation(
    pipeline_api: str,
    store: TicketStore,
    departments: tuple[StubDepartments, str],
    classifier: ScriptedClassifier,
) -> None:
    stub, _ = departments
    classifier.default = decision("sales")
    with httpx.Client(base_url=pipeline_api, headers={"X-API-Key": admin_key(store)}) as client:
        ticket_id = client.post(
            "/tickets", json={"subject": "quote", "description": "50 hubs", "customer_id": "c"}
        ).json()["id"]
        wait_for(lambda: store.get(ticket_id).status == "done", what="first pass")
        assert client.post(f"/tickets/{ticket_id}/route").status_code == 202
        wait_for(lambda: len(stub.snapshot()) == 2, what="second delivery")
        wait_for(lambda: store.get(ticket_id).status == "done", what="second pass")
    keys = [d.idempotency_key for d in stub.snapshot()]
    assert keys == [f"{ticket_id}:1", f"{ticket_id}:2"]
