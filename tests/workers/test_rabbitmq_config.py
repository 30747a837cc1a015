"""RabbitMQ's half of celeryconfig: quorum queues, confirms, dead letters; Redis unchanged."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from celery import Celery
from celery.app.defaults import NAMESPACES, flatten

import celeryconfig
from pipeline.settings import Settings
from workers.celery_app import create_celery_app
from workers.dead_letters import (
    DeadLetters,
    death_reason,
    deliveries_of,
    fail_dead_letter,
    ticket_ids_of,
)

AMQP = "amqp://guest:guest@127.0.0.1:5672/triage"


def test_rabbitmq_queues_are_quorum_queues_with_a_delivery_limit_and_dead_letters() -> None:
    settings = Settings(broker_url=AMQP, max_deliveries=4)
    config = celeryconfig.celery_config(settings)
    queues = {q.name: q for q in config["task_queues"]}
    assert set(queues) == {"live", "backfill"}
    for queue in queues.values():
        assert queue.exchange.type == "topic"  # native delayed delivery needs it
        assert queue.queue_arguments == {
            "x-queue-type": "quorum",
            "x-delivery-limit": 4,
            "x-dead-letter-exchange": celeryconfig.DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": celeryconfig.DEAD_LETTER_QUEUE,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }
    assert config["broker_transport_options"] == {"confirm_publish": True}
    assert config["task_default_queue_type"] == "quorum"
    assert config["worker_detect_quorum_queues"] is True
    assert config["broker_connection_retry_on_startup"] is True
    assert config["broker_connection_max_retries"] is None
    assert config["broker_heartbeat"] > 0
    dead = celeryconfig.dead_letter_queue()
    assert dead.queue_arguments == {"x-queue-type": "quorum"}
    assert dead.exchange.name == celeryconfig.DEAD_LETTER_EXCHANGE


def test_redis_keeps_plain_queues_and_its_visibility_timeout() -> None:
    config = celeryconfig.celery_config(Settings(broker_url="redis://127.0.0.1:6379/0"))
    assert all(not q.queue_arguments for q in config["task_queues"])
    assert "confirm_publish" not in config["broker_transport_options"]
    assert "visibility_timeout" in config["broker_transport_options"]
    assert "task_default_queue_type" not in config


def test_only_a_rabbitmq_worker_consumes_the_dead_letter_queue() -> None:
    assert DeadLetters in create_celery_app(Settings(broker_url=AMQP)).steps["consumer"]
    redis_app = create_celery_app(Settings(broker_url="redis://127.0.0.1:6379/0"))
    assert DeadLetters not in redis_app.steps["consumer"]


def test_no_name_in_celeryconfig_shadows_a_celery_setting() -> None:
    # Celery reads the module's attributes: a function named like a setting would be taken
    # for that setting's value (task_queues once was).
    settings = {key for key, _ in flatten(NAMESPACES)}
    own = {name for name in vars(celeryconfig) if not name.startswith("_")}
    assert own & settings == set()


@pytest.mark.parametrize(("given", "sent"), [(0.3, 1), (0.0, 0.0), (2.5, 2.5), (None, None)])
def test_sub_second_countdowns_round_up_on_rabbitmq(given: float | None, sent: Any) -> None:
    app = create_celery_app(Settings(broker_url=AMQP))
    with mock.patch.object(Celery, "send_task") as send:
        app.send_task("triage.classify", args=("t",), countdown=given)
    assert send.call_args.kwargs["countdown"] == sent


def test_dead_letter_headers_and_bodies_are_read() -> None:
    assert list(ticket_ids_of([["t-1"], {}, {}])) == ["t-1"]
    assert list(ticket_ids_of([[["t-1", "t-2"]], {}, {}])) == ["t-1", "t-2"]
    assert list(ticket_ids_of([[], {}, {}])) == []
    assert deliveries_of({"x-delivery-count": 5}) == 6
    assert deliveries_of({"x-death": [{"count": 2, "reason": "expired"}]}) == 2
    assert death_reason({"x-first-death-reason": "delivery_limit"}) == "delivery_limit"
    assert death_reason({"x-death": [{"reason": "expired"}]}) == "expired"
    assert death_reason({}) == "unknown"


def test_only_a_delivery_limit_fails_tickets() -> None:
    app = mock.Mock()  # never reached: no store is touched for these
    sweep = {"task": "triage.sweep", "x-first-death-reason": "expired"}
    expired_stage = {"task": "triage.route", "x-first-death-reason": "expired"}
    assert fail_dead_letter(app, [[], {}, {}], sweep) == 0
    assert fail_dead_letter(app, [["t-1"], {}, {}], expired_stage) == 0
