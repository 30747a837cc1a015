"""Who is let in: keys are `tt_<12 hex>_<secret>`, hashed with our pepper, cached briefly.

A key hashed without the server's pepper, a key of another shape, or a revoked key that keeps
working past the verifier's cache lifetime would each let in someone who should not be.
"""

from __future__ import annotations

import hashlib
import hmac
from types import SimpleNamespace

import pytest

from pipeline.domain.operator import Role
from pipeline.operations import api_keys
from pipeline.operations.api_keys import (
    KeyVerifier,
    create_key,
    key_hash,
    list_keys,
    revoke_key,
    split_key,
)
from pipeline.store.memory_operator import MemoryApiKeys

PEPPER = b"our-pepper"


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The verifier's cache (and whatever else in the module reads the time) on a hand clock."""
    clock = Clock()
    monkeypatch.setattr(api_keys, "time", clock)
    if hasattr(api_keys, "TTLCache"):
        from cachetools import TTLCache

        def on_clock(maxsize: int, ttl: float) -> TTLCache:  # type: ignore[type-arg]
            return TTLCache(maxsize, ttl, timer=clock.monotonic)

        monkeypatch.setattr(api_keys, "TTLCache", on_clock)
    return clock


def stores() -> SimpleNamespace:
    return SimpleNamespace(api_keys=MemoryApiKeys())


def test_a_minted_key_has_our_shape_and_only_its_peppered_hash_is_kept() -> None:
    store = stores()
    key = create_key(store, PEPPER, "shop", Role.producer, "shop")
    marker, prefix, secret = key.split("_", 2)
    assert marker == "tt" and len(prefix) == 12 and len(secret) >= 32
    int(prefix, 16)  # hex
    stored = store.api_keys.by_prefix(prefix)
    assert stored is not None
    expected = hmac.new(PEPPER, key.encode(), hashlib.sha256).hexdigest()
    assert stored.key_hash == expected == key_hash(PEPPER, key)
    assert key not in stored.key_hash and stored.key_hash != key_hash(b"", key)
    [listed] = list_keys(store)
    assert (listed.name, listed.prefix, listed.role, listed.source) == (
        "shop",
        prefix,
        Role.producer,
        "shop",
    )
    assert listed.revoked_at is None and listed.created_at.tzinfo is not None


def test_two_keys_never_share_a_prefix_or_secret() -> None:
    store = stores()
    one = create_key(store, PEPPER, "a", Role.reader, "api")
    two = create_key(store, PEPPER, "b", Role.reader, "api")
    assert one.split("_")[1] != two.split("_")[1] and one != two


def test_the_pepper_decides() -> None:
    store = stores()
    key = create_key(store, PEPPER, "shop", Role.admin, "api")
    assert KeyVerifier(store, PEPPER, cache_s=0).verify(key) is not None
    assert KeyVerifier(store, b"another-pepper", cache_s=0).verify(key) is None
    assert KeyVerifier(store, b"", cache_s=0).verify(key) is None


@pytest.mark.parametrize(
    "shape",
    [
        "xx_{prefix}_{secret}",  # not our marker
        "TT_{prefix}_{secret}",
        "{prefix}_{secret}",  # no marker
        "tt_{prefix}x_{secret}",  # prefix too long
        "tt_{short}_{secret}",  # prefix too short
        "tt_{prefix}_{short_secret}",  # secret too short
    ],
)
def test_a_key_of_another_shape_is_refused(shape: str) -> None:
    assert (
        split_key(
            shape.format(prefix="a" * 12, short="a" * 11, secret="s" * 32, short_secret="s" * 31)
        )
        is None
    )


def test_the_lookup_prefix_of_a_well_formed_key() -> None:
    assert split_key("tt_" + "a" * 12 + "_" + "s" * 32) == "a" * 12
    assert split_key("tt_" + "a" * 12 + "_" + "s_" * 20) == "a" * 12  # secrets may hold `_`


def test_a_key_with_our_prefix_but_another_secret_is_refused() -> None:
    store = stores()
    key = create_key(store, PEPPER, "shop", Role.producer, "api")
    forged = key[: len("tt_") + 12 + 1] + "f" * 43
    assert KeyVerifier(store, PEPPER, cache_s=0).verify(forged) is None
    assert KeyVerifier(store, PEPPER, cache_s=0).verify("tt_" + "0" * 12 + "_" + "s" * 43) is None


def test_a_revoked_key_works_only_until_the_cache_expires(clock: Clock) -> None:
    store = stores()
    key = create_key(store, PEPPER, "shop", Role.producer, "api")
    prefix = key.split("_")[1]
    verifier = KeyVerifier(store, PEPPER, cache_s=30)
    assert verifier.verify(key) is not None  # cached now, for 30 s
    revoke_key(store, "shop")
    clock.now += 29.9
    assert verifier.verify(key) is not None  # the documented grace: the cache time
    assert verifier.active(prefix) is not None
    clock.now += 0.2
    assert verifier.verify(key) is None
    assert verifier.active(prefix) is None
    assert KeyVerifier(store, PEPPER, cache_s=30).verify(key) is None  # a fresh verifier: at once


def test_the_cache_lifetime_is_the_configured_one(clock: Clock) -> None:
    store = stores()
    key = create_key(store, PEPPER, "shop", Role.producer, "api")
    short = KeyVerifier(store, PEPPER, cache_s=1)
    long = KeyVerifier(store, PEPPER, cache_s=600)
    assert short.verify(key) is not None and long.verify(key) is not None
    revoke_key(store, "shop")
    clock.now += 2
    assert short.verify(key) is None
    assert long.verify(key) is not None
    clock.now += 599
    assert long.verify(key) is None


def test_a_key_of_another_store_is_refused(clock: Clock) -> None:
    store = stores()
    verifier = KeyVerifier(store, PEPPER, cache_s=5)
    key = create_key(SimpleNamespace(api_keys=MemoryApiKeys()), PEPPER, "x", Role.producer, "api")
    assert verifier.verify(key) is None  # unknown prefix
    assert verifier.active(key.split("_")[1]) is None
