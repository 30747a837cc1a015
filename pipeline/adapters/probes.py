"""Is a server there? Redis answers PING, anything else accepts a TCP connection, quickly."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import redis

from pipeline.adapters.redis_client import redis_client
from pipeline.domain.urls import redact_url

# The errors that mean Redis is down or not answering: callers outside the adapters (the CLI's
# one-line error) name them through here, never through redis-py.
REDIS_OUTAGES: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)

DEFAULT_PORTS = {
    "redis": 6379,
    "rediss": 6379,
    "amqp": 5672,
    "amqps": 5671,
    "pyamqp": 5672,
    "http": 80,
    "https": 443,
}
CONNECT_TIMEOUT_S = 2.0


def reach(url: str, timeout_s: float = CONNECT_TIMEOUT_S) -> str | None:
    """None when the server behind `url` answers; otherwise a short reason."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in {"memory", ""}:
        return None  # in-process: nothing to reach
    if scheme in {"redis", "rediss"}:
        try:
            redis_client(url).ping()
        except redis.RedisError as error:
            return _first_line(error)
        return None
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError as error:
        return f"invalid port ({error})"
    if not parts.hostname or port is None:
        return f"cannot tell host and port from {redact_url(url)}"
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout_s):
            return None
    except OSError as error:
        return f"{parts.hostname}:{port}: {error.strerror or error}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:200]
