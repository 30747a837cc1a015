"""RabbitMQ: a message delivered past the quorum queue's limit ends its ticket `failed`.

The message is returned to `live` until RabbitMQ's delivery limit moves it to the dead-letter
queue (what a worker dying on it each time does); a real `triage worker` then finds it there
and fails the ticket at its stage, replayable, without running the message's task.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kombu import Connection

from celeryconfig import DEAD_LETTER_QUEUE, dead_letter_queue, queues_for, quorum_arguments
from ingest_api.app import create_app
from pipeline.domain.lifecycle import Queue
from pipeline.settings import Settings
from pipeline.wiring import open_store
from tests.conftest import TEST_PEPPER, admin_key
from tests.support.brokers import RabbitBroker, rabbitmq_vhost
from tests.support.servers import redis_url
from tests.support.waiting import wait_for
from triage_cli.stub_departments import serve_in_thread

pytestmark = pytest.mark.integration
SHARED_REDIS_DB = 10
MAX_DELIVERIES = 2


@pytest.fixture
def vhost() -> Iterator[RabbitBroker]:
    with rabbitmq_vhost() as broker:
        yield broker


def test_poison_message_is_dead_lettered_and_fails_its_ticket(
    vhost: RabbitBroker, fresh_postgres_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=fresh_postgres_url,
        broker_url=vhost.url,
        redis_url=redis_url(SHARED_REDIS_DB),
        classifier="local",
        api_key_pepper=TEST_PEPPER,
        max_deliveries=MAX_DELIVERIES,
    )
    assert quorum_arguments(settings)["x-delivery-limit"] == MAX_DELIVERIES
    store = open_store(settings)
    live = next(q for q in queues_for(settings) if q.name == Queue.live.value)
    with Connection(vhost.url) as connection:
        channel = connection.default_channel
        dead_letter_queue()(channel).declare()  # what every worker declares when it starts
        with (
            serve_in_thread(create_app(settings, store=store)) as api_url,
            httpx.Client(base_url=api_url, headers={"X-API-Key": admin_key(store)}) as client,
        ):
            response = client.post(
                "/tickets",
                json={"subject": "Poison", "description": "kills workers", "customer_id": "c1"},
            )
        assert response.status_code == 202, response.text
        ticket_id = response.json()["id"]
        bound = live(channel)
        returned = 0
        # Handed out and given back (a worker dying on it) until RabbitMQ stops handing it.
        while (message := bound.get(no_ack=False)) is not None:
            assert message.headers["task"] == "triage.classify"
            message.requeue()
            returned += 1
            assert returned <= MAX_DELIVERIES + 1, "the delivery limit was not enforced"
        assert returned == MAX_DELIVERIES + 1
    wait_for(lambda: vhost.ready(DEAD_LETTER_QUEUE) == 1, timeout=10, what="the dead letter")
    assert store.count_by_status([ticket_id]) == {"received": 1}

    env = {
        **os.environ,
        "TRIAGE_DATABASE_URL": fresh_postgres_url,
        "TRIAGE_BROKER_URL": vhost.url,
        "TRIAGE_REDIS_URL": redis_url(SHARED_REDIS_DB),
        "TRIAGE_CLASSIFIER": "local",
        "TRIAGE_MAX_DELIVERIES": str(MAX_DELIVERIES),
    }
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "triage_cli", "worker", "--pool", "threads",
             "--concurrency", "2", "--loglevel", "WARNING", "--metrics-port", "0"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_for(
                lambda: store.count_by_status([ticket_id]) == {"failed": 1},
                timeout=60,
                interval=0.2,
                what="the poisoned ticket failed",
            )
            # Quorum queues report their counts every few seconds: wait for the acked state.
            wait_for(
                lambda: vhost.unacked() == 0 and vhost.ready(DEAD_LETTER_QUEUE) == 0,
                timeout=30,
                interval=0.5,
                what="the dead letter acknowledged",
            )
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    trail = store.audit_trail(ticket_id)
    assert [e.event for e in trail] == ["received", "failed"]
    assert trail[-1].stage == "classify"
    assert "dead-lettered" in trail[-1].detail["error"]
    assert trail[-1].detail["permanent"] is True
    store.engine.dispose()
