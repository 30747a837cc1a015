"""One Redis client per URL per process, with the one timeout policy, rebuilt after a fork."""

from __future__ import annotations

import os

from pipeline.adapters import redis_client as module
from pipeline.adapters.redis_client import redis_client


def test_one_client_per_url_with_the_timeout_policy() -> None:
    first = redis_client("redis://127.0.0.1:6379/14")
    assert redis_client("redis://127.0.0.1:6379/14") is first
    assert redis_client("redis://127.0.0.1:6379/13") is not first
    options = first.connection_pool.connection_kwargs
    assert options["socket_connect_timeout"] == module.CONNECT_TIMEOUT_S
    assert options["socket_timeout"] == module.SOCKET_TIMEOUT_S
    assert options["health_check_interval"] == module.HEALTH_CHECK_INTERVAL_S


def test_a_forked_child_builds_its_own_client() -> None:
    parent = redis_client("redis://127.0.0.1:6379/14")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether it got a new client, then leave at once
        os.close(read)
        fresh = redis_client("redis://127.0.0.1:6379/14") is not parent
        os.write(write, b"1" if fresh else b"0")
        os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.waitpid(pid, 0)
    os.close(read)
    assert answer == b"1"
    assert redis_client("redis://127.0.0.1:6379/14") is parent
