"""Who is let in, and at what database cost: the key's secret, the lookup budget, the cache.

- A minted key carries 32 random bytes of secret (43 url-safe characters).
- A process refuses unknown prefixes unlooked once its lookup budget (a burst of
  max(50, 5 x lookups_per_s), refilled at lookups_per_s) is spent; a key it has never seen
  is refused too while the budget is empty, so the exact budget decides who gets in.
- With a shared key generation, a verified key stays cached until the generation moves.
- A revoked key is listed with the instant of its revocation, in UTC.
- A verifier without a failure limiter still verifies keys presented with an address.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from cachetools import TTLCache

from pipeline.adapters.key_changes import InMemoryKeyChanges
from pipeline.domain.operator import Role, StoredKey
from pipeline.operations import api_keys
from pipeline.operations.api_keys import (
    KEY_PREFIX,
    KeyVerifier,
    create_key,
    list_keys,
    revoke_key,
)
from pipeline.store.memory_operator import MemoryApiKeys

PEPPER = b"pepper"


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 5000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The lookup budget and the verifier's cache on a hand clock (time stands still)."""
    clock = Clock()
    monkeypatch.setattr(api_keys, "time", clock)

    def on_clock(maxsize: int, ttl: float) -> TTLCache:  # type: ignore[type-arg]
        return TTLCache(maxsize, ttl, timer=clock.monotonic)

    monkeypatch.setattr(api_keys, "TTLCache", on_clock)
    return clock


class CountingKeys(MemoryApiKeys):
    """The in-memory repository, counting the lookups the verifier makes."""

    def __init__(self) -> None:
        super().__init__()
        self.lookups: list[str] = []

    def by_prefix(self, prefix: str) -> StoredKey | None:
        self.lookups.append(prefix)
        return super().by_prefix(prefix)


def random_key() -> str:
    """A well-formed key nobody minted."""
    return f"{KEY_PREFIX}_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"


def stores() -> SimpleNamespace:
    return SimpleNamespace(api_keys=CountingKeys())


def garbage_lookups(verifier: KeyVerifier, store: SimpleNamespace, attempts: int) -> int:
    """How many of `attempts` unknown keys cost a database lookup."""
    before = len(store.api_keys.lookups)
    for _ in range(attempts):
        assert verifier.verify(random_key()) is None
    return len(store.api_keys.lookups) - before


def test_a_minted_secret_is_32_random_bytes_in_43_url_safe_characters() -> None:
    key = create_key(stores(), PEPPER, "shop", Role.producer, "api")
    secret = key.split("_", 2)[2]
    assert len(secret) == 43  # 256 bits, base64url without padding
    assert len(key) == len("tt_") + 12 + 1 + 43


def test_a_slow_budget_gives_a_burst_of_exactly_fifty_lookups(clock: Clock) -> None:
    store = stores()
    verifier = KeyVerifier(store, PEPPER, cache_s=3600, lookups_per_s=1)
    assert garbage_lookups(verifier, store, 200) == 50


def test_a_fast_budget_gives_a_burst_of_five_seconds_of_lookups(clock: Clock) -> None:
    store = stores()
    verifier = KeyVerifier(store, PEPPER, cache_s=3600, lookups_per_s=100)
    assert garbage_lookups(verifier, store, 800) == 500


def test_a_spent_budget_refills_at_the_configured_rate(clock: Clock) -> None:
    store = stores()
    verifier = KeyVerifier(store, PEPPER, cache_s=3600, lookups_per_s=4)
    assert garbage_lookups(verifier, store, 100) == 50
    clock.now += 0.5  # half a second at 4 a second: two lookups more
    assert garbage_lookups(verifier, store, 10) == 2
    clock.now += 1.0
    assert garbage_lookups(verifier, store, 10) == 4


def test_a_new_key_is_refused_while_the_budget_is_spent_and_let_in_once_it_refills(
    clock: Clock,
) -> None:
    store = stores()
    verifier = KeyVerifier(store, PEPPER, cache_s=0, lookups_per_s=1)
    assert garbage_lookups(verifier, store, 50) == 50  # the whole burst, on garbage
    key = create_key(store, PEPPER, "late", Role.producer, "api")
    assert verifier.verify(key) is None  # never seen by this process: not looked up
    clock.now += 1.0  # one lookup earned
    assert verifier.verify(key) is not None


def test_the_last_token_of_the_burst_buys_a_lookup(clock: Clock) -> None:
    store = stores()
    verifier = KeyVerifier(store, PEPPER, cache_s=0, lookups_per_s=1)
    assert garbage_lookups(verifier, store, 49) == 49
    key = create_key(store, PEPPER, "fiftieth", Role.producer, "api")
    assert verifier.verify(key) is not None  # the fiftieth lookup of the burst
    assert garbage_lookups(verifier, store, 5) == 0


def test_with_a_shared_generation_a_verified_key_stays_cached(clock: Clock) -> None:
    store = stores()
    changes = InMemoryKeyChanges()
    key = create_key(store, PEPPER, "shop", Role.producer, "api", changes)
    prefix = key.split("_")[1]
    verifier = KeyVerifier(store, PEPPER, cache_s=3600, changes=changes)
    assert all(verifier.verify(key) is not None for _ in range(20))
    assert store.api_keys.lookups.count(prefix) == 1  # one query, then the cache
    changes.announce()
    assert all(verifier.verify(key) is not None for _ in range(20))
    assert store.api_keys.lookups.count(prefix) == 2  # the change emptied it once


def test_an_address_without_a_failure_limiter_is_simply_verified() -> None:
    store = stores()
    key = create_key(store, PEPPER, "shop", Role.producer, "api")
    verifier = KeyVerifier(store, PEPPER, cache_s=30)
    verified = verifier.verify(key, address="10.0.0.1")
    assert verified is not None and verified.name == "shop"
    assert verifier.verify(random_key(), address="10.0.0.1") is None


def test_a_revoked_key_is_listed_with_when_it_was_revoked_in_utc() -> None:
    store = stores()
    create_key(store, PEPPER, "shop", Role.producer, "api")
    before = datetime.now(UTC)
    revoke_key(store, "shop")
    [listed] = list_keys(store)
    assert listed.revoked_at is not None
    assert listed.revoked_at.utcoffset() == timedelta(0)
    assert before <= listed.revoked_at <= datetime.now(UTC)
