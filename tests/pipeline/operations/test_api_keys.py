"""The key verifier under abuse: bounded lookups, evicting cache, revocation seen at once."""

from __future__ import annotations

import secrets
from types import SimpleNamespace

import pytest

from pipeline.adapters.auth_failures import InMemoryAuthFailures
from pipeline.adapters.key_changes import InMemoryKeyChanges
from pipeline.domain.operator import Role, StoredKey
from pipeline.operations.api_keys import (
    KEY_PREFIX,
    AuthThrottled,
    KeyVerifier,
    create_key,
    revoke_key,
)
from pipeline.store.memory_operator import MemoryApiKeys

PEPPER = b"pepper"


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


@pytest.fixture
def store() -> SimpleNamespace:
    return SimpleNamespace(api_keys=CountingKeys())


def test_random_prefixes_do_not_cost_a_lookup_each(store: SimpleNamespace) -> None:
    verifier = KeyVerifier(store, PEPPER, cache_s=3600, lookups_per_s=1)
    assert all(verifier.verify(random_key()) is None for _ in range(2000))
    assert len(store.api_keys.lookups) <= 60  # the burst, not one per attempt (was 2000)


def test_a_repeated_unknown_prefix_is_looked_up_once(store: SimpleNamespace) -> None:
    verifier = KeyVerifier(store, PEPPER, cache_s=3600)
    garbage = random_key()
    assert all(verifier.verify(garbage) is None for _ in range(100))
    assert len(store.api_keys.lookups) == 1  # the negative answer is cached


def test_real_keys_are_looked_up_even_past_the_budget(store: SimpleNamespace) -> None:
    changes = InMemoryKeyChanges()
    secret = create_key(store, PEPPER, "p", Role.producer, "api")
    verifier = KeyVerifier(store, PEPPER, cache_s=3600, changes=changes, lookups_per_s=1)
    assert verifier.verify(secret) is not None
    for _ in range(500):  # spend the lookup budget on garbage
        verifier.verify(random_key())
    changes.announce()  # a change elsewhere empties the cache...
    assert verifier.verify(secret) is not None  # ...and the real key still gets its lookup


def test_the_cache_evicts_the_least_recently_used_instead_of_flushing(
    store: SimpleNamespace,
) -> None:
    secret = create_key(store, PEPPER, "p", Role.producer, "api")
    prefix = secret.split("_")[1]
    verifier = KeyVerifier(store, PEPPER, cache_s=3600, cache_size=8)
    for _ in range(40):  # many more entries than the cache holds, the valid key kept in use
        assert verifier.verify(secret) is not None
        verifier.verify(random_key())
    assert store.api_keys.lookups.count(prefix) == 1  # never dropped with the garbage


def test_a_revocation_is_seen_by_every_process_at_once(store: SimpleNamespace) -> None:
    changes = InMemoryKeyChanges()  # stands for the shared Redis generation
    secret = create_key(store, PEPPER, "p", Role.producer, "api", changes)
    processes = [KeyVerifier(store, PEPPER, cache_s=3600, changes=changes) for _ in range(3)]
    assert all(p.verify(secret) is not None for p in processes)  # cached for an hour
    assert revoke_key(store, "p", changes) is True
    assert [p.verify(secret) for p in processes] == [None, None, None]


def test_without_a_shared_generation_revocation_reports_its_bound(store: SimpleNamespace) -> None:
    create_key(store, PEPPER, "p", Role.producer, "api")
    assert revoke_key(store, "p") is False  # the caller says "within TRIAGE_API_KEY_CACHE_S"


def test_a_key_created_after_its_prefix_was_refused_works_at_once(
    store: SimpleNamespace,
) -> None:
    changes = InMemoryKeyChanges()
    verifier = KeyVerifier(store, PEPPER, cache_s=3600, changes=changes)
    verifier.verify(random_key())
    secret = create_key(store, PEPPER, "new", Role.producer, "api", changes)
    assert verifier.verify(secret) is not None


def test_failed_authentications_are_limited_per_address(store: SimpleNamespace) -> None:
    secret = create_key(store, PEPPER, "p", Role.producer, "api")
    failures = InMemoryAuthFailures("3/minute")
    verifier = KeyVerifier(store, PEPPER, cache_s=3600, failures=failures)
    for _ in range(3):
        assert verifier.verify(random_key(), address="10.0.0.1") is None
    before = len(store.api_keys.lookups)
    with pytest.raises(AuthThrottled) as throttled:
        verifier.verify(random_key(), address="10.0.0.1")
    assert throttled.value.exceeded.retry_after_s >= 1
    with pytest.raises(AuthThrottled):  # even a valid key: the address is locked out a while
        verifier.verify(secret, address="10.0.0.1")
    assert len(store.api_keys.lookups) == before  # refused before any lookup
    assert verifier.verify(secret, address="10.0.0.2") is not None  # other addresses unharmed
    assert all(verifier.verify(secret, address="10.0.0.3") for _ in range(10))  # success is free
