"""Rate limits per key: 429 with Retry-After, shared across API processes through Redis."""

from __future__ import annotations

from celery import Celery
from flask import Flask

from ingest_api.app import create_app
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore
from tests.conftest import admin_key
from tests.support.servers import redis_url

TICKET = {"subject": "s", "description": "d", "customer_id": "c"}


def limited_api(
    settings: Settings, store: TicketStore, celery_app: Celery, **update: object
) -> Flask:
    return create_app(
        settings.model_copy(update={"rate_limit": "3/minute", **update}),
        store=store,
        celery_app=celery_app,
    )


def test_over_the_limit_is_429_with_retry_after(
    settings: Settings, store: TicketStore, celery_app: Celery
) -> None:
    client = limited_api(settings, store, celery_app).test_client()
    key = {"X-API-Key": admin_key(store)}
    codes = [client.get("/tickets", headers=key).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = client.get("/tickets", headers=key)
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.get_json()["error"]["code"] == "rate_limited"


def test_limits_are_per_key(settings: Settings, store: TicketStore, celery_app: Celery) -> None:
    client = limited_api(settings, store, celery_app).test_client()
    one, two = admin_key(store, "one"), admin_key(store, "two")
    for _ in range(3):
        client.get("/tickets", headers={"X-API-Key": one})
    assert client.get("/tickets", headers={"X-API-Key": one}).status_code == 429
    assert client.get("/tickets", headers={"X-API-Key": two}).status_code == 200


def test_two_api_processes_share_the_limit_through_redis(
    settings: Settings, store: TicketStore, celery_app: Celery
) -> None:
    import redis

    url = redis_url(13)
    redis.Redis.from_url(url).flushdb()
    first = limited_api(settings, store, celery_app, redis_url=url).test_client()
    second = limited_api(settings, store, celery_app, redis_url=url).test_client()
    key = {"X-API-Key": admin_key(store)}
    codes = [c.get("/tickets", headers=key).status_code for c in (first, second, first, second)]
    assert codes == [200, 200, 200, 429]
    redis.Redis.from_url(url).flushdb()
