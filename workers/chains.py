"""Publishing a ticket's remaining stages as a chain of id-only messages."""

from __future__ import annotations

import logging

from celery import Celery, Signature

from pipeline.domain.lifecycle import Queue, Stage, stages_from

log = logging.getLogger(__name__)

TASK_NAMES = {
    Stage.classify: "triage.classify",
    Stage.route: "triage.route",
    Stage.audit: "triage.audit",
}


def later_links(app: Celery, ticket_id: str, start: Stage, queue: Queue) -> list[Signature]:
    """The stages after `start` as chain links, last to run first (Celery pops from the end)."""
    return [
        app.signature(TASK_NAMES[stage], args=(ticket_id,), immutable=True, queue=queue.value)
        for stage in reversed(stages_from(start)[1:])
    ]


def enqueue_after_commit(
    app: Celery, ticket_id: str, *, start: Stage = Stage.classify, queue: Queue = Queue.live
) -> bool:
    """Publish the ticket's chain from `start` to audit; call only once its row is committed.

    One message: the first stage, carrying the later ones as its chain (what `chain()` sends,
    without building and freezing every link first: this is on the ingest hot path).
    Returns False when the broker is unreachable: the ticket stays in the store and the
    sweeper publishes it later, so the caller still acknowledges the producer.
    """
    try:
        app.send_task(
            TASK_NAMES[start],
            args=(ticket_id,),
            queue=queue.value,
            chain=later_links(app, ticket_id, start, queue),
        )
    except Exception as error:  # kombu raises OperationalError, redis-py its own ConnectionError
        log.warning(
            "broker unreachable, ticket left for the sweeper: %s",
            type(error).__name__,
            extra={"ticket_id": ticket_id},
        )
        return False
    return True


def enqueue_groups_after_commit(
    app: Celery, ticket_ids: list[str], *, group_size: int, queue: Queue = Queue.backfill
) -> int:
    """Publish committed tickets in groups for grouped classification; returns how many went.

    A group that cannot be published leaves its tickets `received`: the sweeper's job.
    """
    sent = 0
    for start in range(0, len(ticket_ids), group_size):
        group = ticket_ids[start : start + group_size]
        try:
            app.signature("triage.classify_group", args=(group,), queue=queue.value).apply_async()
        except Exception as error:
            log.warning(
                "broker unreachable, %d tickets left for the sweeper: %s",
                len(group),
                type(error).__name__,
            )
            continue
        sent += len(group)
    return sent
