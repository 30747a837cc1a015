"""API keys: minted once, stored only as a keyed hash, checked fast on the ingest hot path."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from datetime import UTC, datetime

from pipeline.domain.operator import ApiKey, Role, StoredKey
from pipeline.ports import ApiKeyRepository, OperatorStores

KEY_PREFIX = "tt"


def key_hash(pepper: bytes, key: str) -> str:
    """HMAC-SHA256 of the key with the server's pepper: fast, and useless without the pepper."""
    return hmac.new(pepper, key.encode("utf-8"), hashlib.sha256).hexdigest()


def split_key(key: str) -> str | None:
    """The lookup prefix of a well-formed key (`tt_<prefix>_<secret>`), else None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 12 or len(parts[2]) < 32:
        return None
    return parts[1]


def create_key(store: OperatorStores, pepper: bytes, name: str, role: Role, source: str) -> str:
    """Mint a key, store its hash, and return the key (shown once, never stored)."""
    prefix = secrets.token_hex(6)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    public = ApiKey(name, prefix, role, source, created_at=datetime.now(UTC), revoked_at=None)
    store.api_keys.add(StoredKey(public, key_hash(pepper, key)))
    return key


def list_keys(store: OperatorStores) -> list[ApiKey]:
    """Every key's public facts, oldest first."""
    return store.api_keys.all()


def revoke_key(store: OperatorStores, name: str) -> None:
    """Revoke a key by name (it stops working within the verifier's cache time)."""
    store.api_keys.revoke(name, datetime.now(UTC))


class KeyVerifier:
    """Checks presented keys: lookup by prefix, constant-time hash comparison, short cache."""

    def __init__(self, store: OperatorStores, pepper: bytes, cache_s: float) -> None:
        self._keys: ApiKeyRepository = store.api_keys
        self._pepper = pepper
        self._cache_s = cache_s
        self._cache: dict[str, tuple[float, StoredKey | None]] = {}
        self._lock = threading.Lock()

    def verify(self, key: str) -> ApiKey | None:
        """The key's facts if it is valid and not revoked, else None."""
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
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(prefix)
        if cached is not None and cached[0] > now:
            return cached[1]
        stored = self._keys.by_prefix(prefix)
        with self._lock:
            if len(self._cache) > 10_000:  # bounded: garbage prefixes cannot grow it forever
                self._cache.clear()
            self._cache[prefix] = (now + self._cache_s, stored)
        return stored
