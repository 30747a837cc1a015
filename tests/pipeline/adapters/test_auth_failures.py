"""Failed authentications per address, shared through Redis by every API process."""

from __future__ import annotations

import uuid

from pipeline.adapters.auth_failures import AddressFailureLimiter, build_auth_failures
from tests.support.processes import free_port
from tests.support.servers import redis_url

REDIS_DB = 4


def test_two_processes_share_the_count_of_an_address() -> None:
    url = redis_url(REDIS_DB)  # skips without Redis locally, fails under CI
    address = f"10.{uuid.uuid4().int % 250}.0.{uuid.uuid4().int % 250}-{uuid.uuid4().hex}"
    one, two = build_auth_failures("3/minute", url), build_auth_failures("3/minute", url)
    one.failed(address)
    two.failed(address)
    assert one.blocked(address) is None and two.blocked(address) is None
    one.failed(address)
    exceeded = two.blocked(address)
    assert exceeded is not None and exceeded.limit == "3 per 1 minute"
    assert 1 <= exceeded.retry_after_s <= 60
    assert two.blocked(address + "-other") is None


def test_every_window_counts_and_the_tightest_blocks() -> None:
    limiter = build_auth_failures("100/minute;2/hour", None)  # in memory
    limiter.failed("a")
    limiter.failed("a")
    exceeded = limiter.blocked("a")
    assert exceeded is not None and exceeded.limit == "2 per 1 hour"


def test_a_limiter_outage_fails_open() -> None:
    limiter = AddressFailureLimiter("1/minute", f"redis://127.0.0.1:{free_port()}/0")
    limiter.failed("a")
    assert limiter.blocked("a") is None
