"""An ingest API over the SQLite store and the in-memory broker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from flask import Flask
from flask.testing import FlaskClient

from ingest_api.app import create_app
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore
from tests.conftest import admin_key
from tests.support.broker import purge_queues
from workers.celery_app import create_celery_app


@pytest.fixture
def celery_app(settings: Settings) -> Iterator[Celery]:
    app = create_celery_app(settings)
    purge_queues(app, "live", "backfill")
    yield app
    purge_queues(app, "live", "backfill")


@pytest.fixture
def api(settings: Settings, store: TicketStore, celery_app: Celery) -> Flask:
    return create_app(settings, store=store, celery_app=celery_app)


class KeyedClient(FlaskClient):
    """A test client that sends an API key unless the request names its own."""

    api_key = ""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", None) or {})
        headers.setdefault("X-API-Key", self.api_key)
        return super().open(*args, headers=headers, **kwargs)


@pytest.fixture
def client(api: Flask, store: TicketStore) -> FlaskClient:
    """A client authenticated as an admin (auth itself is tested in test_auth.py)."""
    api.test_client_class = KeyedClient
    client = api.test_client()
    client.api_key = admin_key(store)  # type: ignore[attr-defined]
    return client
