"""Decision cache: normalised keys, TTL, Redis shared by workers, failures read as misses."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import fakeredis
import pytest
import redis

from pipeline.adapters.decision_cache import (
    KEY_PREFIX,
    InMemoryDecisionCache,
    NullDecisionCache,
    RedisDecisionCache,
    build_decision_cache,
    decision_key,
)
from pipeline.adapters.llm_budget import build_budget
from pipeline.classifiers.gemini.classifier import GeminiClassifier
from pipeline.domain.classification import Classification, TicketText
from pipeline.settings import Settings
from pipeline.testing.gemini_stub import GeminiStub, running_stub

DECISION = Classification(
    category="billing", confidence=0.9, language="en", classifier="gemini", model="m/v1"
)


def test_key_ignores_case_and_whitespace_only() -> None:
    key = decision_key("m", "v1", "Charged  Twice", "My card\n was\tcharged.")
    assert key == decision_key("m", "v1", "charged twice ", " MY CARD WAS CHARGED.")
    assert len(key) == 64
    others = {
        decision_key("m2", "v1", "charged twice", "my card was charged."),
        decision_key("m", "v2", "charged twice", "my card was charged."),
        decision_key("m", "v1", "charged twice", "my card was charged.", context="cats"),
        decision_key("m", "v1", "charged", "twice my card was charged."),
        decision_key("m", "v1", "charged twice", "my card was charged!"),
    }
    assert key not in others and len(others) == 5


def test_in_memory_ttl_and_size_bound() -> None:
    now = [100.0]
    cache = InMemoryDecisionCache(ttl_s=10, max_entries=2, clock=lambda: now[0])
    cache.put("a", DECISION)
    assert cache.get("a") == DECISION
    now[0] += 10
    assert cache.get("a") is None
    for key in ("x", "y", "z"):
        cache.put(key, DECISION)
    assert cache.get("x") is None and cache.get("z") == DECISION


def test_null_cache_never_hits() -> None:
    cache = NullDecisionCache()
    cache.put("a", DECISION)
    assert cache.get("a") is None


@pytest.fixture
def fake_redis() -> redis.Redis:
    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


def test_redis_round_trip_with_ttl(fake_redis: redis.Redis) -> None:
    cache = RedisDecisionCache(fake_redis, ttl_s=300)
    cache.put("k", DECISION)
    assert cache.get("k") == DECISION
    assert 0 < fake_redis.ttl(KEY_PREFIX + "k") <= 300
    fake_redis.set(KEY_PREFIX + "bad", b"{not a decision")
    assert cache.get("bad") is None and cache.get("missing") is None


def test_redis_down_is_a_miss_not_an_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(broker_url="memory://", redis_url=f"redis://127.0.0.1:{port}/0")
    cache = build_decision_cache(settings)
    assert isinstance(cache, RedisDecisionCache)
    cache.put("k", DECISION)
    assert cache.get("k") is None


def test_build_decision_cache_follows_settings() -> None:
    memory = Settings(broker_url="memory://", redis_url=None)
    assert isinstance(build_decision_cache(memory), InMemoryDecisionCache)
    off = Settings(broker_url="memory://", redis_url=None, llm_cache_ttl_s=0)
    assert isinstance(build_decision_cache(off), NullDecisionCache)
    shared = Settings(broker_url="memory://", redis_url="redis://127.0.0.1:1/3")
    assert isinstance(build_decision_cache(shared), RedisDecisionCache)


@pytest.fixture
def stub() -> Iterator[GeminiStub]:
    with running_stub() as server:
        yield server


def test_two_workers_share_decisions_through_redis(
    stub: GeminiStub, fake_redis: redis.Redis
) -> None:
    settings = Settings(
        gemini_api_key="k", gemini_base_url=stub.url, broker_url="memory://", redis_url=None
    )
    categories = {"billing": "charges", "shipping": "parcels"}
    workers = [
        GeminiClassifier(
            settings,
            categories,
            budget=build_budget(settings),
            cache=RedisDecisionCache(fake_redis, ttl_s=60),
        )
        for _ in range(2)
    ]
    ticket = TicketText(subject="Invoice", description="charged twice")
    first = workers[0].classify(ticket)
    result = workers[1].classify_with_details(ticket)
    second, details = result.decision, result.call
    assert second == first and details is not None and details.cache_hit is True
    assert len(stub.recorded()) == 1
    # A changed category table is another prompt: it must not reuse the decision.
    renamed = GeminiClassifier(
        settings,
        {"billing": "money matters", "shipping": "parcels"},
        budget=build_budget(settings),
        cache=RedisDecisionCache(fake_redis, ttl_s=60),
    )
    renamed.classify(ticket)
    assert len(stub.recorded()) == 2
