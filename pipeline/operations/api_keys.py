"""API keys: minted once, stored only as a keyed hash, checked fast on the ingest hot path."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from pipeline.domain.errors import TriageError
from pipeline.store.schema import ApiKeyRow, utcnow
from pipeline.store.tickets import TicketStore

KEY_PREFIX = "tt"


class Role(StrEnum):
    """What a key may do: producers ingest, readers read, admins do everything."""

    producer = "producer"
    reader = "reader"
    admin = "admin"


class ApiKeyError(TriageError):
    """A key could not be created or revoked."""


@dataclass(frozen=True)
class ApiKey:
    """A stored key's public facts (never the key itself)."""

    name: str
    prefix: str
    role: Role
    source: str
    created_at: datetime
    revoked_at: datetime | None


def key_hash(pepper: bytes, key: str) -> str:
    """HMAC-SHA256 of the key with the server's pepper: fast, and useless without the pepper."""
    return hmac.new(pepper, key.encode("utf-8"), hashlib.sha256).hexdigest()


def split_key(key: str) -> str | None:
    """The lookup prefix of a well-formed key (`tt_<prefix>_<secret>`), else None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 12 or len(parts[2]) < 32:
        return None
    return parts[1]


def create_key(store: TicketStore, pepper: bytes, name: str, role: Role, source: str) -> str:
    """Mint a key, store its hash, and return the key (shown once, never stored)."""
    prefix = secrets.token_hex(6)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    try:
        with store.transaction() as session:
            session.add(
                ApiKeyRow(
                    name=name,
                    prefix=prefix,
                    key_hash=key_hash(pepper, key),
                    role=role.value,
                    source=source,
                    created_at=utcnow(),
                )
            )
    except IntegrityError:
        raise ApiKeyError(f"a key named {name!r} already exists") from None
    return key


def list_keys(store: TicketStore) -> list[ApiKey]:
    """Every key's public facts, oldest first."""
    with store.read() as session:
        rows = session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id))
        return [_public(r) for r in rows]


def revoke_key(store: TicketStore, name: str) -> None:
    """Revoke a key by name (it stops working within the verifier's cache time)."""
    with store.transaction() as session:
        row = session.scalars(select(ApiKeyRow).where(ApiKeyRow.name == name)).one_or_none()
        if row is None:
            raise ApiKeyError(f"no key named {name!r}")
        if row.revoked_at is None:
            row.revoked_at = utcnow()


class KeyVerifier:
    """Checks presented keys: lookup by prefix, constant-time hash comparison, short cache."""

    def __init__(self, store: TicketStore, pepper: bytes, cache_s: float) -> None:
        self._store = store
        self._pepper = pepper
        self._cache_s = cache_s
        self._cache: dict[str, tuple[float, ApiKeyRow | None]] = {}
        self._lock = threading.Lock()

    def verify(self, key: str) -> ApiKey | None:
        """The key's facts if it is valid and not revoked, else None."""
        prefix = split_key(key)
        if prefix is None:
            return None
        row = self._row(prefix)
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.key_hash, key_hash(self._pepper, key)):
            return None
        return _public(row)

    def _row(self, prefix: str) -> ApiKeyRow | None:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(prefix)
        if cached is not None and cached[0] > now:
            return cached[1]
        with self._store.read() as session:
            row = session.scalars(select(ApiKeyRow).where(ApiKeyRow.prefix == prefix)).one_or_none()
            if row is not None:
                session.expunge(row)
        with self._lock:
            if len(self._cache) > 10_000:  # bounded: garbage prefixes cannot grow it forever
                self._cache.clear()
            self._cache[prefix] = (now + self._cache_s, row)
        return row


def _public(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        name=row.name,
        prefix=row.prefix,
        role=Role(row.role),
        source=row.source,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )
