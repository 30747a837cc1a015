"""Cache of LLM decisions: the same ticket text under the same model and prompt costs one call."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import redis
from pydantic import ValidationError

from pipeline.adapters.redis_client import redis_client
from pipeline.domain.classification import Classification
from pipeline.ports import DecisionCache
from pipeline.settings import Settings

log = logging.getLogger(__name__)

KEY_PREFIX = "triage:llm-decision:"


def normalise(text: str) -> str:
    """Casefolded, whitespace collapsed: trivial variants of a ticket share one decision."""
    return " ".join(text.casefold().split())


def decision_key(
    model: str, prompt_version: str, subject: str, description: str, context: str = ""
) -> str:
    """sha256 over model, prompt version, normalised text and `context` (e.g. the categories)."""
    # \x1f separates the parts, so text moving between subject and description changes the key.
    material = "\x1f".join(
        (model, prompt_version, context, normalise(subject), normalise(description))
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class NullDecisionCache:
    """Caching switched off (`llm_cache_ttl_s = 0`)."""

    def get(self, key: str) -> Classification | None:
        """Always a miss."""
        return None

    def put(self, key: str, decision: Classification) -> None:
        """Forget at once."""


class InMemoryDecisionCache:
    """Per-process cache with a TTL and a size bound (least recently used goes first)."""

    def __init__(
        self, ttl_s: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Classification]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Classification | None:
        """The cached decision unless expired."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires_at, decision = entry
            if expires_at <= self._clock():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return decision

    def put(self, key: str, decision: Classification) -> None:
        """Store, evicting the least recently used entry when full."""
        with self._lock:
            self._entries[key] = (self._clock() + self.ttl_s, decision)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


class RedisDecisionCache:
    """Cache shared by every worker, one Redis key per decision with a TTL."""

    def __init__(self, client: redis.Redis, ttl_s: int) -> None:
        self.client = client
        self.ttl_s = ttl_s

    def get(self, key: str) -> Classification | None:
        """The cached decision; a Redis failure or an unreadable entry is a miss."""
        try:
            raw = self.client.get(KEY_PREFIX + key)
        except redis.RedisError as exc:  # a cache must never fail a classification
            log.warning("decision cache unavailable: %s", type(exc).__name__)
            return None
        if raw is None:
            return None
        try:
            return Classification.model_validate_json(raw)  # type: ignore[arg-type]
        except ValidationError:
            return None  # written by an older shape: ask again

    def put(self, key: str, decision: Classification) -> None:
        """Store with the TTL; a Redis failure only costs a later call."""
        try:
            self.client.set(KEY_PREFIX + key, decision.model_dump_json(), ex=self.ttl_s)
        except redis.RedisError as exc:
            log.warning("decision cache unavailable: %s", type(exc).__name__)


def build_decision_cache(settings: Settings) -> DecisionCache:
    """Redis when there is a shared Redis URL, memory otherwise; nothing when the TTL is 0."""
    if settings.llm_cache_ttl_s <= 0:
        return NullDecisionCache()
    url = settings.shared_redis_url()
    if url:
        # The shared client fails fast: a slow cache must cost less than the call it saves.
        return RedisDecisionCache(redis_client(url), settings.llm_cache_ttl_s)
    return InMemoryDecisionCache(settings.llm_cache_ttl_s)
