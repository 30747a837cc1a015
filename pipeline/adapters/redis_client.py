"""The one way the product gets a Redis client: one timeout policy, one client per URL.

Every adapter that speaks Redis (circuit breaker, stage-run counter, LLM budget, decision
cache, queue depths, the sweeper's lock) asks `redis_client(url)`. The policy, stated once:

- connect and socket timeouts of 2 s: a hung Redis must not hang a stage or a scrape; each
  caller has an answer for a Redis that does not answer (a cache miss, a budget that says
  "later", a retry of the stage, a gauge left out);
- one immediate retry on a connection error or timeout, no backoff (redis-py's default
  retries with backoff for seconds): it covers a connection the server closed, not an outage;
- a health check (PING) on a connection idle for 30 s before it is used again.

Clients are cached per URL per process (each holds a connection pool), and forgotten in a
forked child: a socket must never be shared across a fork.
Celery's broker connection and the API's rate limiter (the `limits` package's own Redis
storage) are configured by those libraries, not here.
"""

from __future__ import annotations

import os
import threading

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

CONNECT_TIMEOUT_S = 2.0
SOCKET_TIMEOUT_S = 2.0
HEALTH_CHECK_INTERVAL_S = 30
RETRIES = 1

_clients: dict[str, redis.Redis] = {}
_lock = threading.Lock()


def redis_client(url: str) -> redis.Redis:
    """This process's client for `url`, built on first use with the one timeout policy."""
    with _lock:
        client = _clients.get(url)
        if client is None:
            client = redis.Redis.from_url(
                url,
                socket_connect_timeout=CONNECT_TIMEOUT_S,
                socket_timeout=SOCKET_TIMEOUT_S,
                health_check_interval=HEALTH_CHECK_INTERVAL_S,
                retry=Retry(NoBackoff(), RETRIES),
            )
            _clients[url] = client
        return client


def _forget_after_fork() -> None:
    # The child starts with no client (and a fresh lock: the parent's may have been held).
    global _lock
    _clients.clear()
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)
