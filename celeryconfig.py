"""ticket-triage's Celery configuration: every Celery setting we rely on, from the one Settings.

Every app is configured from here with `config_from_object` (`workers.celery_app`):

- the process's app (`celery -A workers ...`, `triage worker|beat|flower|sweep|replay`) loads
  this module by name; its attributes are the view of the settings that app was created
  with (the environment is read then, when the process starts, never at import);
- an app created for other settings (tests, the embedded demo) loads `celery_config(s)`,
  the same view of those settings.
"""

from __future__ import annotations

from typing import Any

from kombu import Exchange
from kombu import Queue as KombuQueue

from pipeline.domain.lifecycle import Queue
from pipeline.settings import Settings

# Where RabbitMQ moves a message delivered more than `max_deliveries` times (a poison message):
# workers consume it (workers.dead_letters) and fail the ticket, replayable.
DEAD_LETTER_EXCHANGE = "triage.dead_letter"
DEAD_LETTER_QUEUE = "dead_letter"


def is_rabbitmq(broker_url: str) -> bool:
    """True for an AMQP (RabbitMQ) broker URL."""
    return broker_url.startswith(("amqp://", "amqps://", "pyamqp://"))


def quorum_arguments(settings: Settings) -> dict[str, Any]:
    """RabbitMQ arguments of `live` and `backfill`: replicated, and dead-lettered when poison."""
    return {
        "x-queue-type": "quorum",
        # A message returned this many times (its worker died, or the broker restarted under
        # it) goes to the dead-letter queue: the same budget the stage-run counter enforces.
        "x-delivery-limit": settings.max_deliveries,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": DEAD_LETTER_QUEUE,
        # At-least-once dead-lettering (RabbitMQ 3.10+) needs reject-publish overflow.
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def queues_for(settings: Settings) -> tuple[KombuQueue, ...]:
    """`live` and `backfill`: quorum queues on topic exchanges on RabbitMQ, plain lists else."""
    if not is_rabbitmq(settings.broker_url):
        return tuple(KombuQueue(q.value, routing_key=q.value) for q in Queue)
    # Topic exchanges: Celery's native delayed delivery (how countdowns work on quorum
    # queues, which a worker must not hold unacknowledged) does not support direct ones.
    return tuple(
        KombuQueue(
            q.value,
            Exchange(q.value, type="topic"),
            routing_key=q.value,
            queue_arguments=quorum_arguments(settings),
        )
        for q in Queue
    )


def dead_letter_queue() -> KombuQueue:
    """The quorum queue poison messages land in (consumed by workers.dead_letters)."""
    return KombuQueue(
        DEAD_LETTER_QUEUE,
        Exchange(DEAD_LETTER_EXCHANGE, type="direct"),
        routing_key=DEAD_LETTER_QUEUE,
        queue_arguments={"x-queue-type": "quorum"},
    )


def transport_options(settings: Settings) -> dict[str, Any]:
    """Transport options: Redis visibility timeout; RabbitMQ publisher confirms; fast polling
    for the in-memory transport."""
    if settings.broker_url.startswith("memory://"):
        # Kombu's in-memory transport polls; the default second per poll dominates a demo run.
        return {"polling_interval": 0.01}
    if is_rabbitmq(settings.broker_url):
        # A publish returns once RabbitMQ has the message (a 202 means the broker has it or
        # the sweeper will publish it), not when it left our socket.
        return {"confirm_publish": True}
    return {
        "visibility_timeout": settings.visibility_timeout,
        "socket_connect_timeout": 5,
        "socket_timeout": 30,
        "retry_on_timeout": True,
    }


def celery_config(settings: Settings) -> dict[str, Any]:
    """Every Celery setting we rely on, derived from `settings`."""
    return {
        "broker_url": settings.broker_url,
        "broker_transport_options": transport_options(settings),
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 5,
        # At least once: a message is acknowledged after its stage ran, and a worker that dies
        # hands its message back. Every stage is idempotent, so redelivery is safe.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_ignore_result": True,
        "task_store_errors_even_if_ignored": False,
        "task_soft_time_limit": settings.task_soft_time_limit,
        "task_time_limit": settings.task_time_limit,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_default_queue": Queue.live.value,
        "task_queues": queues_for(settings),
        "task_create_missing_queues": False,
        **rabbitmq_config(settings),
        # Task events cost a JSON message and a PUBLISH per task state (15% of a worker's CPU),
        # and nobody listens unless Flower runs: Flower turns them on at runtime on every
        # worker it sees (its `enable_events` broadcast, every 5 s), and they stay on. The
        # `task-sent` event would only add a PENDING row to Flower, at a PUBLISH per chain step.
        "worker_send_task_events": False,
        "task_send_sent_event": False,
        "worker_soft_shutdown_timeout": settings.worker_shutdown_grace_s,
        "worker_enable_soft_shutdown_on_idle": False,
        "worker_hijack_root_logger": False,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        # Publishing must not hang an ingest request: a few quick tries, then the sweeper's turn.
        "task_publish_retry_policy": {
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        "beat_schedule": {
            "sweep-overdue-tickets": {
                "task": "triage.sweep",
                "schedule": float(settings.sweep_interval),
                "options": {"queue": Queue.live.value, "expires": float(settings.sweep_interval)},
            },
            # audit_events' coming months (PostgreSQL; a no-op elsewhere).
            "maintain-audit-partitions": {
                "task": "triage.maintain_partitions",
                "schedule": 6 * 3600.0,
                "options": {"queue": Queue.live.value, "expires": 3600.0},
            },
        },
        "timezone": "UTC",
        "enable_utc": True,
    }


def rabbitmq_config(settings: Settings) -> dict[str, Any]:
    """The settings quorum queues need (nothing for other brokers)."""
    if not is_rabbitmq(settings.broker_url):
        return {}
    return {
        "task_default_queue_type": "quorum",
        "task_default_exchange_type": "topic",
        # Quorum queues refuse a global QoS: the prefetch is per consumer and static.
        "worker_detect_quorum_queues": True,
        "broker_native_delayed_delivery_queue_type": "quorum",
        # A dead peer (a host gone, a broker restarted) is noticed within two heartbeats.
        "broker_heartbeat": 10,
        "broker_connection_retry": True,
        "broker_connection_max_retries": None,  # a worker outlives any broker restart
    }


# --- this module as a configuration object: the view of the process's settings -------------
# Celery reads a module's attributes: no name defined here may be a Celery setting's name.

_settings: Settings | None = None
_view: dict[str, Any] | None = None


def use_settings(settings: Settings | None) -> None:
    """Make this module's attributes the view of `settings` (None: the environment's)."""
    global _settings, _view
    _settings, _view = settings, None


def _process_view() -> dict[str, Any]:
    global _settings, _view
    if _view is None:
        if _settings is None:  # loaded by name with no app of ours: read TRIAGE_* now
            _settings = Settings()
        _view = celery_config(_settings)
    return _view


def __getattr__(name: str) -> Any:
    """One setting of the process's configuration (how `config_from_object` reads a module)."""
    if name.startswith("__"):  # import machinery and introspection probes: not settings
        raise AttributeError(name)
    try:
        return _process_view()[name]
    except KeyError:
        raise AttributeError(name) from None


def __dir__() -> list[str]:
    """The names of the process's settings (Celery lists a module's keys with `dir`)."""
    return sorted(_process_view())
