"""The shared LLM budget: one moving window of requests and a token counter for every process."""

from __future__ import annotations

import multiprocessing
import queue as queue_module
import socket
import time
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
import redis

from pipeline.adapters.llm_budget import (
    BACKFILL,
    MIN_WAIT_S,
    STORAGE_ERROR_WAIT_S,
    SharedBudget,
    build_budget,
    per_window,
)
from pipeline.adapters.llm_windows import MemoryWindows, RedisWindows
from pipeline.ports import LLMBudget
from pipeline.settings import Settings
from pipeline.testing.gemini_stub import GeminiStub, running_stub
from tests.support.servers import redis_url

REDIS_DB = 12


@pytest.fixture(params=["redis", "memory"])
def fake_storage(request: pytest.FixtureRequest) -> Any:
    """The Lua windows on fakeredis (shared like real Redis), or the in-memory windows."""
    if request.param == "memory":
        return MemoryWindows()
    return RedisWindows(fakeredis.FakeRedis(server=fakeredis.FakeServer()))


def budget(windows: Any, **overrides: Any) -> SharedBudget:
    values: dict[str, Any] = dict(
        requests_per_window=3, tokens_per_window=1_000, window_s=1, backfill_share=0.5
    )
    values.update(overrides)
    return SharedBudget(windows, **values)


def test_requests_per_window_then_a_wait_that_is_honest(fake_storage: Any) -> None:
    shared = budget(fake_storage)
    assert [shared.try_acquire(10) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = shared.try_acquire(10)
    assert MIN_WAIT_S <= wait <= 1.0
    time.sleep(wait)  # the wait the budget asked for, not a guess
    assert shared.try_acquire(10) == 0.0


def test_two_budgets_on_one_redis_share_the_window(fake_storage: Any) -> None:
    first, second = budget(fake_storage), budget(fake_storage)
    assert first.try_acquire(1) == 0.0 and second.try_acquire(1) == 0.0
    assert first.try_acquire(1) == 0.0
    assert second.try_acquire(1) > 0 and first.try_acquire(1) > 0


def test_tokens_per_window(fake_storage: Any) -> None:
    shared = budget(fake_storage, requests_per_window=100)
    assert shared.try_acquire(600) == 0.0
    assert shared.try_acquire(600) > 0
    assert shared.try_acquire(400) == 0.0


def test_a_ticket_larger_than_the_window_still_passes_when_empty(
    fake_storage: Any,
) -> None:
    shared = budget(fake_storage, requests_per_window=100)
    assert shared.try_acquire(5_000) == 0.0
    assert shared.try_acquire(1) > 0


def test_record_tokens_charges_an_overrun(fake_storage: Any) -> None:
    shared = budget(fake_storage, requests_per_window=100)
    assert shared.try_acquire(100) == 0.0
    shared.record_tokens(900, estimated=100)
    assert shared.try_acquire(200) > 0
    shared.record_tokens(10, estimated=100)  # an underrun is not refunded
    assert shared.try_acquire(100) == 0.0


def test_backfill_gets_only_its_share_and_live_keeps_the_rest(fake_storage: Any) -> None:
    shared = budget(fake_storage, requests_per_window=4)
    assert shared.try_acquire(1, queue=BACKFILL) == 0.0
    assert shared.try_acquire(1, queue=BACKFILL) == 0.0
    assert shared.try_acquire(1, queue=BACKFILL) > 0  # share 0.5 of 4
    assert shared.try_acquire(1) == 0.0 and shared.try_acquire(1) == 0.0
    assert shared.try_acquire(1) > 0


def test_live_traffic_can_use_the_whole_budget_and_then_backfill_waits(
    fake_storage: Any,
) -> None:
    shared = budget(fake_storage, requests_per_window=2)
    assert shared.try_acquire(1) == 0.0 and shared.try_acquire(1) == 0.0
    assert shared.try_acquire(1, queue=BACKFILL) > 0


def test_backfill_token_share(fake_storage: Any) -> None:
    shared = budget(fake_storage, requests_per_window=100, backfill_share=0.3)
    assert shared.try_acquire(300, queue=BACKFILL) == 0.0
    assert shared.try_acquire(10, queue=BACKFILL) > 0
    assert shared.try_acquire(700) == 0.0


def test_storage_down_refuses_with_a_wait() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    shared = budget(RedisWindows(client))
    assert shared.try_acquire(1) == STORAGE_ERROR_WAIT_S
    shared.record_tokens(100, estimated=1)  # accounting failures are swallowed


def test_build_budget_in_memory_without_redis() -> None:
    settings = Settings(
        broker_url="memory://", redis_url=None, llm_requests_per_minute=60, llm_budget_window_s=2
    )
    shared = build_budget(settings)
    assert isinstance(shared.windows, MemoryWindows)
    assert shared.try_acquire(1) == 0.0 and shared.try_acquire(1) == 0.0
    assert shared.try_acquire(1) > 0


def test_per_window_scales_per_minute_settings() -> None:
    assert per_window(600, 60) == 600
    assert per_window(150, 2) == 5
    assert per_window(1, 1) == 1


# --- three worker processes, one budget in the real Redis --------------------------------

WINDOW_S, PER_WINDOW, PROCESSES, TICKETS_EACH = 2, 5, 3, 4
CATEGORIES = {"billing": "charges and invoices", "shipping": "parcels and delivery"}


class GrantClock:
    """Wraps a worker's budget to note, for each granted call, the time just before asking."""

    def __init__(self, inner: LLMBudget) -> None:
        self.inner = inner
        self.granted: list[float] = []

    def try_acquire(self, tokens: int, *, queue: str = "live") -> float:
        asked_at = time.time()  # before the grant, so never later than the budget's timestamp
        wait = self.inner.try_acquire(tokens, queue=queue)
        if wait == 0:
            self.granted.append(asked_at)
        return wait

    def record_tokens(self, actual: int, *, estimated: int, queue: str = "live") -> None:
        self.inner.record_tokens(actual, estimated=estimated, queue=queue)


def classify_in_worker(
    stub_url: str, budget_url: str, worker: int, start: Any, results: Any
) -> None:
    """One worker process: its own GeminiClassifier, the budget in Redis, waits as told."""
    from pipeline.classifiers.gemini.classifier import GeminiClassifier
    from pipeline.domain.classification import TicketText
    from pipeline.domain.errors import LLMBudgetExhausted

    try:
        settings = Settings(
            gemini_api_key="test-key",
            gemini_base_url=stub_url,
            redis_url=budget_url,
            llm_requests_per_minute=PER_WINDOW * 60 // WINDOW_S,
            llm_tokens_per_minute=10**9,
            llm_budget_window_s=WINDOW_S,
            llm_cache_ttl_s=0,
        )
        classifier = GeminiClassifier(settings, CATEGORIES)  # the Redis budget from settings
        clock = GrantClock(classifier.budget)
        classifier.budget = clock
        waits: list[float] = []
        start.wait(timeout=30)
        deadline = time.monotonic() + 30
        for n in range(TICKETS_EACH):
            ticket = TicketText(description=f"worker {worker} ticket {n}")
            while True:
                try:
                    classifier.classify(ticket)
                    break
                except LLMBudgetExhausted as exc:
                    assert exc.retry_after is not None and time.monotonic() < deadline
                    waits.append(exc.retry_after)
                    time.sleep(exc.retry_after)  # the budget's own answer: when to come back
        results.put({"worker": worker, "waits": waits, "granted": clock.granted})
    except BaseException as exc:
        results.put({"worker": worker, "error": repr(exc)})


@pytest.fixture
def budget_redis() -> Iterator[str]:
    url = redis_url(REDIS_DB)  # skips without Redis locally, fails under CI
    redis.Redis.from_url(url).flushdb()
    yield url
    redis.Redis.from_url(url).flushdb()


@pytest.fixture
def stub() -> Iterator[GeminiStub]:
    with running_stub() as server:
        yield server


@pytest.mark.integration
def test_three_processes_never_exceed_the_shared_budget(
    budget_redis: str, stub: GeminiStub
) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    results = context.Queue()
    workers = [
        context.Process(target=classify_in_worker, args=(stub.url, budget_redis, n, start, results))
        for n in range(PROCESSES)
    ]
    for process in workers:
        process.start()
    try:
        start.set()  # all three race for the same window
        reports = []
        for _ in workers:
            try:
                reports.append(results.get(timeout=60))
            except queue_module.Empty:
                pytest.fail("a worker process did not report within 60 s")
    finally:
        for process in workers:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    assert [r for r in reports if "error" in r] == []

    arrivals = sorted(request.received_wall for request in stub.recorded())
    granted = sorted(at for report in reports for at in report["granted"])
    assert len(arrivals) == len(granted) == PROCESSES * TICKETS_EACH  # all got through in time
    # At most PER_WINDOW requests reached the stub in any window: the (i + PER_WINDOW)-th
    # arrival comes a full window after the i-th call was even asked for. Each request arrives
    # after its own grant, so this holds however slow the trip from worker to stub was.
    for asked, arrived in zip(granted, arrivals[PER_WINDOW:], strict=False):
        assert arrived - asked >= WINDOW_S, (granted, arrivals)
    waits = [wait for report in reports for wait in report["waits"]]
    assert waits, "the workers never met the budget: the test proved nothing"
    assert all(0 < wait <= WINDOW_S for wait in waits)


def test_one_round_trip_per_acquisition_whatever_the_queue() -> None:
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    calls: list[str] = []
    evalsha = client.evalsha

    def counted(*args: Any) -> Any:
        calls.append("evalsha")
        return evalsha(*args)

    client.evalsha = counted  # type: ignore[method-assign]
    shared = budget(RedisWindows(client), requests_per_window=100)
    assert shared.try_acquire(10) == 0.0  # the first one also loads the script
    calls.clear()
    assert shared.try_acquire(10) == 0.0
    assert shared.try_acquire(10, queue=BACKFILL) == 0.0  # four limits, still one script
    shared.record_tokens(50, estimated=10)
    assert calls == ["evalsha"] * 3


def test_a_token_wait_is_honest(fake_storage: Any) -> None:
    shared = budget(fake_storage, requests_per_window=100)
    assert shared.try_acquire(900) == 0.0
    wait = shared.try_acquire(500)
    assert MIN_WAIT_S <= wait <= 2.0  # the previous window still counts for a while
    time.sleep(wait + 0.01)
    assert shared.try_acquire(500) == 0.0
