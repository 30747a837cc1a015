"""The Celery app both baseline chains run on: our broker and delivery contract, nothing more."""

from __future__ import annotations

import os

from celery import Celery


def baseline_app(name: str, queue: str) -> Celery:
    """A Celery app on BENCH_BROKER_URL with our at-least-once settings, without our extras."""
    app = Celery(name, set_as_current=False)
    app.conf.update(
        broker_url=os.environ["BENCH_BROKER_URL"],
        broker_connection_retry_on_startup=True,
        # The same delivery contract as ours (acks after the task, one message per thread at a
        # time, no results), so the comparison measures work, not a weaker guarantee.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=queue,
        worker_hijack_root_logger=False,
    )
    return app
