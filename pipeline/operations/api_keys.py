"""API keys: minted once, stored only as a keyed hash, checked fast on the ingest hot path."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from datetime import UTC, datetime

from cachetools import TTLCache

from pipeline.domain.operator import ApiKey, Role, StoredKey
from pipeline.ports import (
    ApiKeyRepository,
    AuthFailureLimiter,
    KeyChanges,
    OperatorStores,
    RateLimitExceeded,
)

KEY_PREFIX = "tt"
CACHE_SIZE = 10_000  # prefixes remembered per process (least recently used evicted first)
LOOKUPS_PER_S = 20.0  # database lookups of uncached prefixes per process, on average


def key_hash(pepper: bytes, key: str) -> str:
    """HMAC-SHA256 of the key with the server's pepper: fast, and useless without the pepper."""
    return hmac.new(pepper, key.encode("utf-8"), hashlib.sha256).hexdigest()


def split_key(key: str) -> str | None:
    """The lookup prefix of a well-formed key (`tt_<prefix>_<secret>`), else None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 12 or len(parts[2]) < 32:
        return None
    return parts[1]


def create_key(
    store: OperatorStores,
    pepper: bytes,
    name: str,
    role: Role,
    source: str,
    changes: KeyChanges | None = None,
) -> str:
    """Mint a key, store its hash, and return the key (shown once, never stored)."""
    prefix = secrets.token_hex(6)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    public = ApiKey(name, prefix, role, source, created_at=datetime.now(UTC), revoked_at=None)
    store.api_keys.add(StoredKey(public, key_hash(pepper, key)))
    if changes is not None:
        changes.announce()  # API processes that refused this prefix forget it at once
    return key


def list_keys(store: OperatorStores) -> list[ApiKey]:
    """Every key's public facts, oldest first."""
    return store.api_keys.all()


def revoke_key(store: OperatorStores, name: str, changes: KeyChanges | None = None) -> bool:
    """Revoke a key by name; True if every API process was told at once.

    False: no shared generation (no Redis), so processes drop it within TRIAGE_API_KEY_CACHE_S.
    """
    store.api_keys.revoke(name, datetime.now(UTC))
    return changes is not None and changes.announce()


class AuthThrottled(Exception):
    """This client address failed authentication too often; it may try again later."""

    def __init__(self, exceeded: RateLimitExceeded) -> None:
        super().__init__(f"too many failed authentications ({exceeded.limit})")
        self.exceeded = exceeded


class KeyVerifier:
    """Checks presented keys: lookup by prefix, constant-time hash comparison, bounded cache.

    - The cache (TTL + LRU, never flushed whole) holds known and unknown prefixes alike.
    - Uncached prefixes never seen as a real key cost at most `lookups_per_s` queries a
      second per process (after a burst); beyond that they are refused unlooked, so garbage
      cannot buy database work. Prefixes of real keys are always looked up.
    - `changes` is read per check: a key created or revoked anywhere empties every cache.
    - `failures` (per client address) refuses an address that failed too often, before any
      lookup, and counts each failure.
    """

    def __init__(
        self,
        store: OperatorStores,
        pepper: bytes,
        cache_s: float,
        *,
        changes: KeyChanges | None = None,
        failures: AuthFailureLimiter | None = None,
        cache_size: int = CACHE_SIZE,
        lookups_per_s: float = LOOKUPS_PER_S,
    ) -> None:
        self._keys: ApiKeyRepository = store.api_keys
        self._pepper = pepper
        self._cache: TTLCache[str, StoredKey | None] = TTLCache(cache_size, ttl=cache_s)
        self._changes = changes
        self._failures = failures
        self._generation: int | None = None
        # Prefixes of real keys seen once: looked up again (after a change) without budget.
        self._known: set[str] = set()
        self._lookups = TokenBucket(rate=lookups_per_s, burst=max(50.0, lookups_per_s * 5))
        self._lock = threading.Lock()

    @property
    def changes(self) -> KeyChanges | None:
        """The key generation this verifier follows (announce on it to be seen at once)."""
        return self._changes

    def verify(self, key: str, *, address: str | None = None) -> ApiKey | None:
        """The key's facts if it is valid and not revoked, else None.

        With `address`: raises AuthThrottled for an address over its failure limit, and
        counts a failure for it when the key does not verify.
        """
        if address is not None and self._failures is not None:
            exceeded = self._failures.blocked(address)
            if exceeded is not None:
                raise AuthThrottled(exceeded)
        verified = self._verify(key)
        if verified is None and address is not None and self._failures is not None:
            self._failures.failed(address)
        return verified

    def _verify(self, key: str) -> ApiKey | None:
        prefix = split_key(key)
        if prefix is None:
            return None
        stored = self._stored(prefix)
        if stored is None or stored.key.revoked_at is not None:
            return None
        if not hmac.compare_digest(stored.key_hash, key_hash(self._pepper, key)):
            return None
        return stored.key

    def active(self, prefix: str) -> ApiKey | None:
        """The key with this prefix if it is still valid (a console session's re-check)."""
        stored = self._stored(prefix)
        if stored is None or stored.key.revoked_at is not None:
            return None
        return stored.key

    def _stored(self, prefix: str) -> StoredKey | None:
        self._follow_changes()
        with self._lock:
            if prefix in self._cache:
                return self._cache[prefix]
            known = prefix in self._known
        if not known and not self._lookups.take():
            return None  # an unknown prefix past the lookup budget: refused, not looked up
        stored = self._keys.by_prefix(prefix)
        with self._lock:
            self._cache[prefix] = stored  # a full cache evicts its least recently used entry
            if stored is not None:
                self._known.add(prefix)  # real keys only: as many as the store holds
        return stored

    def _follow_changes(self) -> None:
        """Empty the cache when a key was created or revoked since the last check."""
        if self._changes is None:
            return
        generation = self._changes.generation()
        if generation is None:
            return  # unknown: entries still expire by time
        with self._lock:
            if generation != self._generation:
                self._cache.clear()
                self._generation = generation


class TokenBucket:
    """At most `rate` takes a second on average, `burst` at once (thread-safe)."""

    def __init__(self, rate: float, burst: float) -> None:
        self._rate, self._burst = rate, burst
        self._tokens, self._at = burst, time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """One token if there is one."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
            self._at = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True
