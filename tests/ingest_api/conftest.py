"""An ingest API over the SQLite store and the in-memory broker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery import Celery
from flask import Flask
from flask.testing import FlaskClient

from ingest_api.app import create_app
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore
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


@pytest.fixture
def client(api: Flask) -> FlaskClient:
    return api.test_client()
