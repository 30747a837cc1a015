"""API keys in SQL: one row per key, its secret kept only as a keyed hash."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from pipeline.domain.operator import ApiKey, ApiKeyError, Role, StoredKey
from pipeline.store.engine import Sessions
from pipeline.store.schema import ApiKeyRow


class SqlApiKeys:
    """The ApiKeyRepository on the tickets database."""

    def __init__(self, store: Sessions) -> None:
        self._store = store

    def add(self, key: StoredKey) -> None:
        """Store a new key; raise ApiKeyError if its name is taken."""
        public = key.key
        try:
            with self._store.transaction() as session:
                session.add(
                    ApiKeyRow(
                        name=public.name,
                        prefix=public.prefix,
                        key_hash=key.key_hash,
                        role=public.role.value,
                        source=public.source,
                        created_at=public.created_at,
                    )
                )
        except IntegrityError:
            raise ApiKeyError(f"a key named {public.name!r} already exists") from None

    def all(self) -> list[ApiKey]:
        """Every key's public facts, oldest first."""
        with self._store.read() as session:
            return [_public(r) for r in session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id))]

    def revoke(self, name: str, at: datetime) -> None:
        """Mark a key revoked (a revoked key keeps its first date); ApiKeyError if unknown."""
        with self._store.transaction() as session:
            row = session.scalars(select(ApiKeyRow).where(ApiKeyRow.name == name)).one_or_none()
            if row is None:
                raise ApiKeyError(f"no key named {name!r}")
            if row.revoked_at is None:
                row.revoked_at = at

    def by_prefix(self, prefix: str) -> StoredKey | None:
        """The key with this lookup prefix, if any."""
        with self._store.read() as session:
            row = session.scalars(select(ApiKeyRow).where(ApiKeyRow.prefix == prefix)).one_or_none()
            return None if row is None else StoredKey(_public(row), row.key_hash)


def _public(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        name=row.name,
        prefix=row.prefix,
        role=Role(row.role),
        source=row.source,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )
