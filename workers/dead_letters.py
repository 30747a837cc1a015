"""RabbitMQ's dead-letter queue: a poison message ends its ticket `failed` (replayable).

`live` and `backfill` are quorum queues with a delivery limit (celeryconfig): a message
returned more often than that (its worker died on it each time) is moved to `dead_letter`.
Every worker consumes that queue with this step, never running the message's task: it fails
the message's tickets at the message's stage, the end the stage-run counter reaches on Redis.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from celery import Celery, bootsteps
from kombu import Consumer, Message

from celeryconfig import dead_letter_queue
from pipeline.domain.errors import PoisonMessage
from pipeline.domain.lifecycle import Stage
from pipeline.stages.failures import fail_ticket
from workers.celery_app import services_for

log = logging.getLogger("triage.dead_letters")

STAGE_OF_TASK = {
    "triage.classify": Stage.classify,
    "triage.classify_group": Stage.classify,
    "triage.route": Stage.route,
    "triage.audit": Stage.audit,
}


def ticket_ids_of(body: Any) -> Iterator[str]:
    """The ticket ids a task message carries (protocol 2 body: args, kwargs, embed)."""
    args = body[0] if isinstance(body, list | tuple) and body else []
    first = args[0] if args else None
    if isinstance(first, str):
        yield first
    elif isinstance(first, list):
        yield from (t for t in first if isinstance(t, str))


def deliveries_of(headers: dict[str, Any]) -> int:
    """How often RabbitMQ delivered the message before dead-lettering it (best effort)."""
    count = headers.get("x-delivery-count")
    if isinstance(count, int):
        return count + 1
    deaths = headers.get("x-death") or []
    return int(deaths[0].get("count", 1)) if deaths and isinstance(deaths[0], dict) else 1


def death_reason(headers: dict[str, Any]) -> str:
    """Why RabbitMQ dead-lettered the message: delivery_limit, expired, rejected, maxlen."""
    reason = headers.get("x-first-death-reason")
    if reason is None:
        deaths = headers.get("x-death") or []
        reason = deaths[0].get("reason") if deaths and isinstance(deaths[0], dict) else None
    return str(reason or "unknown")


def fail_dead_letter(app: Celery, body: Any, headers: dict[str, Any]) -> int:
    """Fail the tickets of one dead-lettered task message; returns how many were failed."""
    task = str(headers.get("task", ""))
    stage = STAGE_OF_TASK.get(task)
    reason = death_reason(headers)
    if stage is None or reason != "delivery_limit":
        # An expired sweep (beat's messages carry a TTL), or a message refused unread: no
        # stage kept dying, and the sweeper re-enqueues any ticket a dropped message held.
        log.info("dropping a dead-lettered %s message (%s)", task or "unknown", reason)
        return 0
    store = services_for(app).store
    deliveries = deliveries_of(headers)
    error = PoisonMessage(
        f"{stage.value} delivered {deliveries} times without finishing "
        "(dead-lettered by the broker: its worker died each time)"
    )
    failed = 0
    for ticket_id in ticket_ids_of(body):
        # Guarded on the stage's input state: a ticket that moved on is left alone.
        if fail_ticket(store, ticket_id, stage, error, attempt=deliveries):
            failed += 1
            log.error(
                "poison message: ticket failed at %s", stage.value, extra={"ticket_id": ticket_id}
            )
    return failed


class DeadLetters(bootsteps.ConsumerStep):
    """A consumer on the dead-letter queue beside the worker's task consumer."""

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.app: Celery = parent.app

    def get_consumers(self, channel: Any) -> list[Consumer]:
        """Declare the dead-letter exchange and queue (before any message can need them)."""
        return [
            Consumer(
                channel,
                queues=[dead_letter_queue()],
                callbacks=[self.on_message],
                accept=["json"],
                prefetch_count=1,
            )
        ]

    def on_message(self, body: Any, message: Message) -> None:
        """Fail the message's tickets, then acknowledge it (requeued while the store is away)."""
        try:
            fail_dead_letter(self.app, body, dict(message.headers or {}))
        except Exception:
            log.warning("could not fail a dead-lettered message; requeued", exc_info=True)
            message.requeue()
            return
        message.ack()
