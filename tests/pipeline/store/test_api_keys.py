"""The API-key repository: SQL and in-memory keep the same rules, the verifier relies on them."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from pipeline.domain.operator import ApiKey, ApiKeyError, Role, StoredKey
from pipeline.operations.api_keys import KeyVerifier, create_key, list_keys, revoke_key
from pipeline.ports import ApiKeyRepository
from pipeline.store.memory_operator import MemoryApiKeys
from pipeline.store.tickets import TicketStore

PEPPER = b"pepper"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sql", "memory"])
def keys(request: pytest.FixtureRequest, store: TicketStore) -> ApiKeyRepository:
    return store.api_keys if request.param == "sql" else MemoryApiKeys()


def stored(name: str, prefix: str) -> StoredKey:
    return StoredKey(ApiKey(name, prefix, Role.producer, "api", T0, None), "h" * 64)


def test_names_are_unique_and_listed_oldest_first(keys: ApiKeyRepository) -> None:
    keys.add(stored("a", "aaaaaaaaaaaa"))
    keys.add(stored("b", "bbbbbbbbbbbb"))
    with pytest.raises(ApiKeyError, match="already exists"):
        keys.add(stored("a", "cccccccccccc"))
    assert [k.name for k in keys.all()] == ["a", "b"]
    found = keys.by_prefix("bbbbbbbbbbbb")
    assert found is not None and found.key.name == "b" and found.key_hash == "h" * 64
    assert keys.by_prefix("zzzzzzzzzzzz") is None


def test_revoking_keeps_the_first_date_and_unknown_names_fail(keys: ApiKeyRepository) -> None:
    keys.add(stored("a", "aaaaaaaaaaaa"))
    keys.revoke("a", T0)
    keys.revoke("a", datetime(2025, 1, 1, tzinfo=UTC))
    assert [k.revoked_at for k in keys.all()] == [T0]
    with pytest.raises(ApiKeyError, match="no key named"):
        keys.revoke("nope", T0)


def test_verifier_accepts_a_minted_key_and_rejects_revoked_or_forged() -> None:
    store = SimpleNamespace(api_keys=MemoryApiKeys())
    secret = create_key(store, PEPPER, "p", Role.producer, "zendesk")
    verifier = KeyVerifier(store, PEPPER, cache_s=0)
    key = verifier.verify(secret)
    assert key is not None and (key.name, key.role, key.source) == ("p", Role.producer, "zendesk")
    assert verifier.verify(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert KeyVerifier(store, b"another pepper", cache_s=0).verify(secret) is None
    assert verifier.verify("not-a-key") is None
    revoke_key(store, "p")
    assert verifier.verify(secret) is None
    assert [k.revoked_at is not None for k in list_keys(store)] == [True]


def test_verifier_caches_lookups_for_its_cache_time() -> None:
    store = SimpleNamespace(api_keys=MemoryApiKeys())
    secret = create_key(store, PEPPER, "p", Role.reader, "api")
    verifier = KeyVerifier(store, PEPPER, cache_s=60)
    assert verifier.verify(secret) is not None
    revoke_key(store, "p")
    assert verifier.verify(secret) is not None  # still cached: revocation takes effect later
    assert KeyVerifier(store, PEPPER, cache_s=60).verify(secret) is None
