"""An LLM provider through the whole pipeline: the API and a real worker on a stub provider."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from celery.contrib.testing.worker import start_worker

from ingest_api.app import create_app
from pipeline.domain.lifecycle import FINAL_STATUSES
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore
from pipeline.wiring import build_services
from tests.conftest import admin_key
from tests.support.broker import purge_queues
from tests.support.waiting import wait_for
from triage_cli.stub_departments import serve_in_thread
from workers.celery_app import create_celery_app

Api = tuple[str, TicketStore]

# Quick retries: a test of the retry path waits seconds, not the production backoff.
QUICK_RETRIES = {"classify_max_retries": 2, "retry_backoff_max_s": 1}


@contextmanager
def provider_pipeline(settings: Settings, provider: str, **overrides: Any) -> Iterator[Api]:
    """The API's URL and the store, with a threads worker classifying through `provider`."""
    # The default routing: record only (no department to deliver to).
    provider_settings = settings.model_copy(update={"routing_file": None, **overrides})
    services = build_services(provider_settings)
    assert services.classifier.name == provider
    app = create_celery_app(provider_settings, services=services)
    purge_queues(app, "live", "backfill")
    api = create_app(provider_settings, store=services.store, celery_app=app)
    with (
        start_worker(
            app, pool="threads", concurrency=4, perform_ping_check=False, loglevel="WARNING"
        ),
        serve_in_thread(api) as url,
    ):
        yield url, services.store


def post_and_wait(api: Api, body: dict[str, str]) -> str:
    """POST one ticket with a fresh admin key; its id once it is final."""
    url, store = api
    with httpx.Client(
        base_url=url, headers={"X-API-Key": admin_key(store, "k" + body["subject"][:8])}
    ) as client:
        ticket_id = str(client.post("/tickets", json=body).json()["id"])
    wait_for(
        lambda: store.get(ticket_id).status in FINAL_STATUSES,
        timeout=30,
        what="the ticket to be final",
    )
    return ticket_id
