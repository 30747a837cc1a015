"""Publishing a ticket's chain: one id-only message per ticket, the later stages embedded."""

from __future__ import annotations

from unittest import mock

import pytest
from celery import Celery

from pipeline.domain.lifecycle import Queue, Stage
from pipeline.settings import Settings
from tests.support.broker import drain_queue, purge_queues
from workers.celery_app import create_celery_app
from workers.chains import enqueue_after_commit


@pytest.fixture
def app(settings: Settings) -> Celery:
    app = create_celery_app(settings)
    purge_queues(app, "live", "backfill")
    return app


@pytest.mark.parametrize(
    ("start", "first", "later"),
    [
        (Stage.classify, "triage.classify", ["triage.route", "triage.audit"]),
        (Stage.route, "triage.route", ["triage.audit"]),
        (Stage.audit, "triage.audit", []),
    ],
)
def test_chain_from_any_stage_is_one_message_carrying_the_rest(
    app: Celery, start: Stage, first: str, later: list[str]
) -> None:
    assert enqueue_after_commit(app, "t-1", start=start, queue=Queue.backfill)

    [message] = drain_queue(app, "backfill")
    assert (message.task, message.args) == (first, ["t-1"])
    links = list(reversed(message.chain))  # Celery pops the next link from the end
    assert [(link["task"], link["args"]) for link in links] == [(name, ["t-1"]) for name in later]
    # Immutable: a stage's return value is never prepended to the next stage's arguments.
    assert all(link["immutable"] and link["options"]["queue"] == "backfill" for link in links)
    assert drain_queue(app, "live") == []


def test_broker_down_reports_false_and_raises_nothing(app: Celery) -> None:
    with mock.patch.object(app, "send_task", side_effect=ConnectionError("refused")):
        assert enqueue_after_commit(app, "t-2") is False
