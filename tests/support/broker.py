"""Reading what was published: the messages waiting on a broker queue."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from celery import Celery


@dataclass(frozen=True)
class Published:
    """One task message as it sits on the broker."""

    task: str
    args: list[Any]
    chain: list[dict[str, Any]]
    headers: dict[str, Any]


def drain_queue(app: Celery, queue: str) -> list[Published]:
    """Take every message off `queue` (they are consumed) and decode it."""
    messages: list[Published] = []
    with app.connection_for_read() as connection:
        channel = connection.default_channel
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            args, _kwargs, embed = message.decode()
            messages.append(
                Published(
                    task=message.headers["task"],
                    args=list(args),
                    chain=list(embed.get("chain") or []),
                    headers=dict(message.headers),
                )
            )
    return messages


def purge_queues(app: Celery, *queues: str) -> None:
    """Empty queues left over by earlier tests (the in-memory broker lives per process)."""
    with app.connection_for_write() as connection:
        for queue in queues:
            with contextlib.suppress(Exception):  # a queue never declared has nothing to purge
                connection.default_channel.queue_purge(queue)
