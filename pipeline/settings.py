"""The one configuration object: every knob, read from `TRIAGE_*` environment variables."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ClassifierChoice(StrEnum):
    """Which classifier the classify stage uses."""

    auto = "auto"
    local = "local"
    gemini = "gemini"
    cascade = "cascade"


class Settings(BaseSettings):
    """All configuration; built when an app or worker is created, never at import."""

    model_config = SettingsConfigDict(env_prefix="TRIAGE_", extra="ignore")

    database_url: str = "sqlite:///triage.db"
    broker_url: str = "redis://127.0.0.1:6379/0"
    # Redis for shared counters (LLM budget, rate limits); defaults to the broker when it is Redis.
    redis_url: str | None = None

    classifier: ClassifierChoice = ClassifierChoice.auto
    local_model: Path | None = None
    gemini_model: str = "gemini-2.5-flash"
    gemini_base_url: str | None = None
    gemini_api_key: SecretStr | None = None
    gemini_timeout_ms: int = Field(default=20_000, ge=100)
    gemini_vertex_project: str | None = None
    gemini_vertex_location: str | None = None
    confidence_threshold: float = Field(default=0.55, ge=0.0, le=1.0)
    # cascade: the LLM is asked only when the local model is less sure than this.
    cascade_threshold: float = Field(default=0.85, ge=0.0, le=1.0)

    # One LLM budget shared by every worker process (the provider's quota is per project).
    llm_requests_per_minute: int = Field(default=600, ge=1)
    llm_tokens_per_minute: int = Field(default=1_000_000, ge=1)
    llm_budget_window_s: int = Field(default=60, ge=1)
    llm_backfill_share: float = Field(default=0.3, gt=0.0, le=1.0)
    llm_cache_ttl_s: int = Field(default=7 * 24 * 3600, ge=0)
    # When LLM retries are exhausted: the local decision and review, or fail the ticket.
    # Backfills ask the classifier about this many tickets at once (one LLM request).
    llm_group_size: int = Field(default=20, ge=1, le=100)
    llm_fallback: str = Field(default="needs_review", pattern="^(needs_review|failed)$")

    routing_file: Path | None = None
    review_department: str = "review"

    delivery_timeout_s: float = Field(default=10.0, gt=0)
    # Outbound: departments can verify us (Standard Webhooks, `whsec_…`).
    delivery_signing_secret: SecretStr | None = None
    # Inbound: sources that must sign their webhooks, each with its secrets (several while
    # rotating), as JSON: {"zendesk": ["whsec_new", "whsec_old"]}.
    webhook_secrets: dict[str, list[SecretStr]] = Field(default_factory=dict)

    # Retry policy: Celery retries with exponential backoff and jitter, capped per attempt.
    classify_max_retries: int = Field(default=5, ge=0)
    route_max_retries: int = Field(default=30, ge=0)
    # A department outage is retried for this long (from the first failure) before failing.
    route_retry_horizon_s: int = Field(default=3600, ge=0)
    circuit_threshold: int = Field(default=5, ge=1)
    circuit_cooldown_s: float = Field(default=30.0, gt=0)
    retry_backoff_max_s: int = Field(default=300, ge=1)

    # The guarantee lives in the store: the sweeper re-enqueues what did not finish in time.
    visibility_timeout: int = Field(default=3600, ge=5)
    sweep_after: int = Field(default=600, ge=1)
    sweep_interval: int = Field(default=30, ge=1)
    max_deliveries: int = Field(default=5, ge=1)

    task_soft_time_limit: int = Field(default=120, ge=1)
    task_time_limit: int = Field(default=180, ge=1)
    worker_shutdown_grace_s: float = Field(default=30.0, ge=0)

    # Keyed hash of API keys: HMAC-SHA256(pepper, key). Required by `triage api` and `triage keys`.
    api_key_pepper: SecretStr | None = None
    api_key_cache_s: float = Field(default=30.0, ge=0)
    # Per key, shared by every API process (Redis); `limits` syntax, `;` between several.
    rate_limit: str = "100/second;3000/minute"

    # Group commit: concurrent POST /tickets share one transaction, at most this many tickets
    # each (every request still answers only after its own commit); 1 commits each alone.
    ingest_commit_batch: int = Field(default=64, ge=1, le=1000)

    # PostgreSQL synchronous_commit=off for this process's writes: for backfill workers (and
    # `triage backfill`, which always uses it). A database crash may then lose the last
    # fraction of a second of commits, which is safe only for work that is redone: a backfill
    # batch comes back with --resume, a stage with the sweeper. Live traffic keeps it off, so
    # backfills stop competing with live commits for WAL flushes.
    async_commit: bool = False

    max_metadata_bytes: int = Field(default=16_384, ge=0)
    max_ticket_bytes: int = Field(default=1_048_576, ge=1024)

    # Flower: basic auth as "user:password" (its API answers 401 without auth).
    flower_basic_auth: SecretStr | None = None

    log_format: str = Field(default="auto", pattern="^(auto|json|text)$")
    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _resolve_sqlite_path(cls, value: str) -> str:
        # A relative SQLite path is resolved against the working directory once, so a worker
        # that chdirs later still opens the same file.
        prefix = "sqlite:///"
        if value.startswith(prefix) and not value.startswith(prefix + "/"):
            rest = value[len(prefix) :]
            if rest and not rest.startswith(":memory:"):
                return prefix + str(Path(rest).resolve())
        return value

    def gemini_key(self) -> str | None:
        """The Gemini API key from settings or the SDK's own environment variables."""
        if self.gemini_api_key is not None:
            return self.gemini_api_key.get_secret_value()
        return os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY") or None

    def effective_classifier(self) -> ClassifierChoice:
        """Resolve `auto`: Gemini where an API key is set, else the local classifier."""
        if self.classifier is ClassifierChoice.auto:
            return ClassifierChoice.gemini if self.gemini_key() else ClassifierChoice.local
        return self.classifier

    def shared_redis_url(self) -> str | None:
        """Redis URL for counters shared by every process, if there is one."""
        if self.redis_url:
            return self.redis_url
        if self.broker_url.startswith(("redis://", "rediss://")):
            return self.broker_url
        return None
