"""Reaching a server: an answer is None, a closed port is a short reason, quickly."""

from __future__ import annotations

import socket
import time

from pipeline.adapters.probes import reach
from tests.support.processes import free_port
from tests.support.servers import redis_url


def test_a_listening_port_is_reached_and_a_closed_one_is_refused() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert reach(f"http://127.0.0.1:{port}/departments/finance") is None
    closed = free_port()
    started = time.monotonic()
    assert reach(f"http://127.0.0.1:{closed}/x") == f"127.0.0.1:{closed}: Connection refused"
    assert time.monotonic() - started < 2


def test_redis_is_asked_with_a_ping() -> None:
    assert reach(redis_url(2)) is None  # PING only: db 2 is never written
    problem = reach(f"redis://127.0.0.1:{free_port()}/2")
    assert problem is not None and "Connection refused" in problem


def test_the_memory_transport_needs_nothing_and_a_bad_url_says_why() -> None:
    assert reach("memory://") is None
    assert reach("amqp://") == "cannot tell host and port from amqp://"
