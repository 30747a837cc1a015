"""The brokers the integration and fault suites run on: Redis, and RabbitMQ (a vhost per run).

Each broker answers the few questions the suites ask (a queue's backlog, messages taken but
not acknowledged) and knows how to restart itself for the broker-restart fault.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import pytest
import redis

from tests.support.servers import redis_url, require_server
from tests.support.waiting import wait_for

BROKERS = ("redis", "rabbitmq")
RABBITMQ_HOST, RABBITMQ_PORT = "127.0.0.1", 5672


class Broker(Protocol):
    """What a suite needs to know about its broker."""

    name: str
    url: str

    def ready(self, queue: str) -> int:
        """Messages waiting on `queue`."""
        ...

    def unacked(self) -> int:
        """Messages delivered to a worker and not yet acknowledged (every queue)."""
        ...


@dataclass
class RedisBroker:
    """A Redis database as the broker (Kombu's lists and its `unacked` hash)."""

    url: str
    name: str = "redis"

    def ready(self, queue: str) -> int:
        return int(redis.Redis.from_url(self.url).llen(queue))

    def unacked(self) -> int:
        return int(redis.Redis.from_url(self.url).hlen("unacked"))


def rabbitmqctl(*args: str, timeout: float = 60) -> str:
    """Run `rabbitmqctl ARGS` and return its output (raises when it fails)."""
    return subprocess.run(
        ["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True, timeout=timeout
    ).stdout


@dataclass
class RabbitBroker:
    """A private vhost on the machine's RabbitMQ."""

    vhost: str
    host: str = RABBITMQ_HOST
    name: str = "rabbitmq"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{self.host}:{RABBITMQ_PORT}/{self.vhost}"

    def _queues(self) -> dict[str, tuple[int, int]]:
        out = rabbitmqctl(
            "list_queues",
            "-p",
            self.vhost,
            "--no-table-headers",
            "name",
            "messages_ready",
            "messages_unacknowledged",
        )
        rows = (line.split() for line in out.splitlines() if line.strip())
        return {r[0]: (int(r[1]), int(r[2])) for r in rows if len(r) == 3}

    def ready(self, queue: str) -> int:
        return self._queues().get(queue, (0, 0))[0]

    def unacked(self) -> int:
        return sum(unacked for _, unacked in self._queues().values())

    def restart(self) -> None:
        """Stop and start the RabbitMQ application: every connection and channel drops."""
        try:
            rabbitmqctl("stop_app")
        finally:
            rabbitmqctl("start_app")
            rabbitmqctl("await_startup")


def _opens(url: str) -> bool:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1)
            connection.default_channel.basic_qos(0, 1, False)
    except Exception:  # not up yet: any refusal means "try again"
        return False
    return True


def require_rabbitmq() -> None:
    """Skip (or fail on CI) unless RabbitMQ and rabbitmqctl are here."""
    require_server(RABBITMQ_HOST, RABBITMQ_PORT, "RabbitMQ")
    if shutil.which("rabbitmqctl") is None:
        if os.environ.get("CI"):
            pytest.fail("rabbitmqctl not found")
        pytest.skip("rabbitmqctl not found")


@contextmanager
def rabbitmq_vhost(prefix: str = "triage-test") -> Iterator[RabbitBroker]:
    """A fresh vhost guest may use, deleted afterwards with everything in it."""
    require_rabbitmq()
    vhost = f"{prefix}-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        broker = RabbitBroker(vhost)
        # A vhost starts after `add_vhost` returns: a first publish could be refused.
        wait_for(lambda: _opens(broker.url), timeout=30, interval=0.1, what=f"vhost {vhost} up")
        yield broker
    finally:
        rabbitmqctl("delete_vhost", vhost)


@contextmanager
def broker_for(kind: str, redis_db: int) -> Iterator[RedisBroker | RabbitBroker]:
    """The broker `kind` ("redis": database `redis_db`, flushed before and after)."""
    if kind == "redis":
        url = redis_url(redis_db)
        redis.Redis.from_url(url).flushdb()
        try:
            yield RedisBroker(url)
        finally:
            redis.Redis.from_url(url).flushdb()
        return
    with rabbitmq_vhost() as broker:
        yield broker


def wait_rabbitmq_up(timeout: float = 60) -> None:
    """Wait until RabbitMQ accepts connections again."""
    import socket

    def accepts() -> bool:
        try:
            socket.create_connection((RABBITMQ_HOST, RABBITMQ_PORT), timeout=0.5).close()
        except OSError:
            return False
        return True

    wait_for(accepts, timeout=timeout, what="RabbitMQ accepting connections")


@contextmanager
def broker_with_counters(
    kind: str, redis_db: int
) -> Iterator[tuple[RedisBroker | RabbitBroker, str | None]]:
    """The broker `kind` and, beside RabbitMQ, the counters' Redis (database `redis_db`);
    None when the broker is Redis (it holds the counters too). Everything emptied after."""
    with broker_for(kind, redis_db) as broker:
        if broker.name == "redis":
            yield broker, None
            return
        shared = redis_url(redis_db)
        redis.Redis.from_url(shared).flushdb()
        try:
            yield broker, shared
        finally:
            redis.Redis.from_url(shared).flushdb()
