"""End to end through a real worker: a helpdesk webhook in, classified, written back to its stub."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from celery.contrib.testing.worker import start_worker

from ingest_api.app import create_app
from pipeline.domain.lifecycle import FINAL_STATUSES
from pipeline.domain.routing import load_routing
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore
from pipeline.testing.helpdesk_stubs import GitHubStub, HelpdeskStub, ZendeskStub
from pipeline.wiring import build_services
from tests.conftest import EXAMPLE_ROUTING
from tests.support.broker import purge_queues
from tests.support.connectors import example, signed
from tests.support.waiting import wait_for
from triage_cli.stub_departments import serve_in_thread
from workers.celery_app import create_celery_app


def _routing_file(tmp_path: Path) -> Path:
    """The example routing without endpoints, every department writing back to both helpdesks."""
    text = re.sub(r"(?m)^endpoint = .*\n", "", EXAMPLE_ROUTING.read_text())
    for number, name in enumerate(sorted(load_routing(EXAMPLE_ROUTING).departments), start=1):
        text += (
            f'\n[departments.{name}.github]\nlabels = ["triage-{name}"]\n'
            f"[departments.{name}.zendesk]\ngroup_id = {360000 + number}\n"
            f'tags = ["triage-{name}"]\n'
        )
    path = tmp_path / "routing.toml"
    path.write_text(text)
    return path


@contextmanager
def _pipeline(
    settings: Settings, tmp_path: Path, stub: HelpdeskStub
) -> Iterator[tuple[str, TicketStore]]:
    configured = settings.model_copy(
        update={
            "routing_file": _routing_file(tmp_path),
            "github_api_url": stub.url,
            "github_token": "ghp-token",
            "zendesk_base_url": stub.url,
            "zendesk_email": "agent@example.com",
            "zendesk_api_token": "zd-token",
            "github_webhook_secret": "s3cret-webhook-key",
            "zendesk_webhook_secret": "s3cret-webhook-key",
        }
    )
    configured = Settings.model_validate(configured.model_dump())  # secrets as SecretStr
    services = build_services(configured)
    app = create_celery_app(configured, services=services)
    purge_queues(app, "live", "backfill")
    api = create_app(configured, store=services.store, celery_app=app)
    with (
        start_worker(
            app, pool="threads", concurrency=2, perform_ping_check=False, loglevel="WARNING"
        ),
        serve_in_thread(api) as url,
    ):
        yield url, services.store


def _deliver(url: str, store: TicketStore, connector: str) -> str:
    headers, body, content_type = example(connector)
    sent = {**headers, **signed(connector, body), "Content-Type": content_type}
    response = httpx.post(f"{url}/webhooks/{connector}", content=body, headers=sent)
    assert response.status_code in (200, 202), response.text
    ticket_id = str(response.json()["id"])
    wait_for(lambda: store.get(ticket_id).status in FINAL_STATUSES, timeout=30, what="final")
    return ticket_id


@pytest.fixture
def github() -> Iterator[GitHubStub]:
    stub = GitHubStub().start()
    yield stub
    stub.stop()


@pytest.fixture
def zendesk() -> Iterator[ZendeskStub]:
    stub = ZendeskStub().start()
    yield stub
    stub.stop()


def test_a_github_issue_gets_its_department_label(
    settings: Settings, tmp_path: Path, github: GitHubStub
) -> None:
    with _pipeline(settings, tmp_path, github) as (url, store):
        ticket_id = _deliver(url, store, "github")
        ticket = store.get(ticket_id)

    assert ticket.status in ("done", "needs_review"), ticket.last_error
    assert github.problems == []
    assert [r.path for r in github.accepted()] == ["/repos/octo-org/hello-world/issues/1347/labels"]
    assert github.state["octo-org/hello-world#1347"]["tags"] == [f"triage-{ticket.department}"]
    written = [d for d in store.deliveries(ticket_id) if d.target == "github"]
    assert [(d.status, d.response_status) for d in written] == [("delivered", 200)]


def test_a_zendesk_ticket_gets_its_group_and_tags(
    settings: Settings, tmp_path: Path, zendesk: ZendeskStub
) -> None:
    with _pipeline(settings, tmp_path, zendesk) as (url, store):
        ticket_id = _deliver(url, store, "zendesk")
        ticket = store.get(ticket_id)

    assert ticket.status in ("done", "needs_review"), ticket.last_error
    assert zendesk.problems == []
    (put,) = zendesk.accepted()
    assert put.path == f"/api/v2/tickets/{ticket.external_id}.json"
    sent = put.body["ticket"]
    assert sent["additional_tags"][0] == f"triage-{ticket.department}"
    assert isinstance(sent["group_id"], int) and sent["priority"] in {
        "low",
        "normal",
        "high",
        "urgent",
    }
