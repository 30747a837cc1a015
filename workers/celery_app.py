"""The Celery application factory, and the per-process services its tasks use."""

from __future__ import annotations

import logging
import math
import os
from functools import cache
from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown, worker_ready

from pipeline.settings import Settings
from pipeline.wiring import Services, build_services

log = logging.getLogger(__name__)

TASK_MODULES = ("workers.tasks", "workers.sweeper", "workers.group_tasks", "workers.maintenance")


class TriageCelery(Celery):
    """Celery, with countdowns in whole seconds on RabbitMQ."""

    def send_task(self, *args: Any, countdown: float | None = None, **options: Any) -> Any:
        """Publish a task; a sub-second countdown on RabbitMQ is rounded up to a second."""
        import celeryconfig

        # Native delayed delivery (quorum queues) counts whole seconds and refuses 0 < x < 1.
        if countdown and 0 < countdown < 1 and celeryconfig.is_rabbitmq(self.conf.broker_url):
            countdown = math.ceil(countdown)
        return super().send_task(*args, countdown=countdown, **options)


def create_celery_app(
    settings: Settings | None = None, *, services: Services | None = None
) -> Celery:
    """A Celery app configured by `celeryconfig` from `settings` (default: the environment's).

    `services` replaces the adapters the composition root would build (tests, the demo).
    """
    import celeryconfig

    app = TriageCelery("ticket_triage", set_as_current=False)
    if settings is None:
        settings = Settings()
        celeryconfig.use_settings(settings)
        app.config_from_object("celeryconfig")  # read when the app first needs it
    else:
        app.config_from_object(celeryconfig.celery_config(settings))
    app.triage_settings = settings
    app.triage_services = {}
    if celeryconfig.is_rabbitmq(settings.broker_url):
        from workers.dead_letters import DeadLetters

        app.steps["consumer"].add(DeadLetters)  # poison messages end their tickets failed
    if services is not None:
        app.triage_services[os.getpid()] = services
    for module in TASK_MODULES:
        __import__(module)  # registers the shared tasks with every app
    return app


def services_for(app: Celery) -> Services:
    """This process's services for `app`, built on first use after any fork."""
    cache_by_pid: dict[int, Services] = app.triage_services
    pid = os.getpid()
    services = cache_by_pid.get(pid)
    if services is None:
        # A prefork child must not reuse its parent's database connections: build anew per pid.
        services = build_services(app.triage_settings)
        cache_by_pid[pid] = services
    return services


@cache
def default_app() -> Celery:
    """The one app of this process, configured from the environment's settings (read now)."""
    # What `celery -A workers ...` finds (`workers.app`) and every `triage` command runs
    # (worker, beat, flower, sweep, replay, backfill): one configuration, celeryconfig's.
    app = create_celery_app()
    app.set_default()
    return app


@worker_process_shutdown.connect
def _forget_dead_pool_process(**_: object) -> None:
    """A prefork child is exiting: drop its live gauges from the multiprocess metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())


@worker_ready.connect
def _warm_up_main_process(sender: object = None, **_: object) -> None:
    """Load the classifier before the first ticket (thread and solo pools run tasks here)."""
    app = getattr(sender, "app", None)
    if app is not None and hasattr(app, "triage_services"):
        _warm_up(app)


@worker_process_init.connect
def _warm_up_pool_process(**_: object) -> None:
    """Each prefork child loads its own services (no connection crosses a fork)."""
    from celery import current_app

    if hasattr(current_app, "triage_services"):
        _warm_up(current_app)


def _warm_up(app: Celery) -> None:
    try:
        classifier = services_for(app).classifier
        log.info("classifier ready: %s %s", classifier.name, classifier.model_version)
    except Exception:  # the first task will report the same problem, per ticket
        log.exception("could not prepare the classifier")
