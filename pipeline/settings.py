"""The one configuration object: every knob, read from `TRIAGE_*` environment variables."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from pipeline.domain.pricing import ModelPrice, parse_prices

# `.env` in the working directory (`make run` writes one); TRIAGE_ENV_FILE names another file,
# and an empty TRIAGE_ENV_FILE reads none (the test suite: a developer's .env must not leak in).
ENV_FILE_VARIABLE = "TRIAGE_ENV_FILE"


def env_file_path() -> Path | None:
    """The dotenv file settings read besides the environment (None: none)."""
    name = os.environ.get(ENV_FILE_VARIABLE, ".env")
    return Path(name) if name else None


class ClassifierChoice(StrEnum):
    """Which classifier the classify stage uses."""

    auto = "auto"
    local = "local"
    gemini = "gemini"
    openai = "openai"
    anthropic = "anthropic"
    cascade = "cascade"


# The LLM providers, in the order `auto` (and the cascade) tries them: the first with a key.
LLM_PROVIDERS = (ClassifierChoice.gemini, ClassifierChoice.openai, ClassifierChoice.anthropic)
# Each provider's key, as its SDK names it in the environment (TRIAGE_<PROVIDER>_API_KEY wins).
PROVIDER_KEY_NAMES = {
    ClassifierChoice.gemini: ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    ClassifierChoice.openai: ("OPENAI_API_KEY",),
    ClassifierChoice.anthropic: ("ANTHROPIC_API_KEY",),
}


class Settings(BaseSettings):
    """All configuration; built when an app or worker is created, never at import."""

    model_config = SettingsConfigDict(env_prefix="TRIAGE_", extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then real environment variables, then the dotenv file (read when built)."""
        dotenv = DotEnvSettingsSource(
            settings_cls, env_file=env_file_path(), env_file_encoding="utf-8"
        )
        return init_settings, env_settings, dotenv, file_secret_settings

    database_url: str = Field(
        default="sqlite:///triage.db",
        description="SQLAlchemy URL of the store (PostgreSQL in production). An empty database "
        "is migrated on first use, a stale one refused (run `triage db upgrade`); a relative "
        "SQLite path is resolved against the working directory.",
    )
    broker_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="Celery broker URL. When it is Redis it also holds the shared counters, "
        "unless TRIAGE_REDIS_URL is set.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis for the counters every process shares (LLM budget, rate limits, "
        "circuit breakers, decision cache); unset: the broker, when it is Redis.",
    )

    classifier: ClassifierChoice = Field(
        default=ClassifierChoice.auto,
        description="Which classifier the classify stage uses: `auto` (the first LLM provider "
        "whose key is set — Gemini, OpenAI, Anthropic — else local), `local`, `gemini`, "
        "`openai` (OpenAI or any OpenAI-compatible server), `anthropic`, or `cascade` (local "
        "first, the LLM only when the local model is unsure).",
    )
    local_model: Path | None = Field(
        default=None,
        description="Model file written by `triage train` for the local classifier; unset: "
        "a model built from the bundled samples on first use.",
    )
    gemini_model: str = Field(default="gemini-2.5-flash", description="Gemini model name.")
    gemini_base_url: str | None = Field(
        default=None,
        description="Endpoint the Gemini SDK calls (a proxy or a stub); unset: the SDK's own.",
    )
    gemini_api_key: SecretStr | None = Field(
        default=None,
        description="Gemini API key; unset: GEMINI_API_KEY or GOOGLE_API_KEY from the environment.",
    )
    gemini_timeout_ms: int = Field(
        default=20_000, ge=100, description="Timeout of one Gemini request, in milliseconds."
    )
    gemini_vertex_project: str | None = Field(
        default=None,
        description="Google Cloud project: call Gemini through Vertex AI (application default "
        "credentials) instead of with an API key.",
    )
    gemini_vertex_location: str | None = Field(
        default=None,
        description="Vertex AI location (region) with TRIAGE_GEMINI_VERTEX_PROJECT; unset: the "
        "SDK's default.",
    )
    confidence_threshold: float = Field(
        default=0.55,
        ge=0.0,
        le=1.0,
        description="Below this confidence a ticket goes to the review department.",
    )
    cascade_llm: ClassifierChoice | None = Field(
        default=None,
        description="`cascade`: the LLM provider it asks (`gemini`, `openai`, `anthropic`); "
        "unset: the first provider whose key is set.",
    )
    llm_model: str | None = Field(
        default=None,
        description="Model name for the chosen LLM provider; unset: TRIAGE_GEMINI_MODEL for "
        "Gemini, `gpt-4.1-mini` for OpenAI, `claude-haiku-4-5` for Anthropic.",
    )
    openai_api_key: SecretStr | None = Field(
        default=None,
        description="OpenAI (or compatible server) API key; unset: OPENAI_API_KEY from the "
        "environment. Servers that ignore keys (Ollama, vLLM) still need some value.",
    )
    openai_base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1 (Ollama), "
        "http://127.0.0.1:8000/v1 (vLLM), a LiteLLM proxy, an Azure OpenAI /openai/v1 URL; "
        "unset: api.openai.com.",
    )
    openai_response_format: Literal["json_schema", "json_object"] = Field(
        default="json_schema",
        description="`json_schema`: strict structured output; `json_object`: JSON mode for "
        "servers without structured output (the answer is validated by us either way).",
    )
    openai_timeout_s: float = Field(
        default=20.0, gt=0, description="Timeout of one OpenAI-compatible request, in seconds."
    )
    anthropic_api_key: SecretStr | None = Field(
        default=None,
        description="Anthropic API key; unset: ANTHROPIC_API_KEY from the environment.",
    )
    anthropic_base_url: str | None = Field(
        default=None,
        description="Endpoint the Anthropic SDK calls (a proxy or a stub); unset: the SDK's own.",
    )
    anthropic_timeout_s: float = Field(
        default=20.0, gt=0, description="Timeout of one Anthropic request, in seconds."
    )
    cascade_threshold: float = Field(
        default=0.85,
        ge=0.0,
        le=1.0,
        description="`cascade`: the LLM is asked only when the local model is less sure than this.",
    )

    # One LLM budget shared by every worker process (the provider's quota is per project).
    llm_requests_per_minute: int = Field(
        default=600,
        ge=1,
        description="LLM requests per minute, one budget shared by every worker process (in "
        "Redis).",
    )
    llm_tokens_per_minute: int = Field(
        default=1_000_000, ge=1, description="LLM tokens per minute, in the same shared budget."
    )
    llm_budget_window_s: int = Field(
        default=60,
        ge=1,
        description="Window of the shared LLM budget, in seconds (the per-minute amounts are "
        "scaled to it).",
    )
    llm_backfill_share: float = Field(
        default=0.3,
        gt=0.0,
        le=1.0,
        description="Share of the LLM budget the backfill queue may use; live traffic always "
        "keeps the rest.",
    )
    llm_cache_ttl_s: int = Field(
        default=7 * 24 * 3600,
        ge=0,
        description="Seconds an LLM decision is reused for identical normalised text; 0: no cache.",
    )
    llm_group_size: int = Field(
        default=20,
        ge=1,
        le=100,
        description="Backfills ask the classifier about this many tickets at once (one LLM "
        "request).",
    )
    backfill_group_size: int = Field(
        default=250,
        ge=1,
        le=1000,
        description="Tickets per backfill task: classified (in requests of "
        "TRIAGE_LLM_GROUP_SIZE), routed and audited together in bulk statements.",
    )
    backfill_max_rate: float = Field(
        default=0.0,
        ge=0.0,
        description="Backfill pace cap, tickets per second per backfill worker process (a token "
        "bucket its groups wait on), so history yields CPU and database to live work; 0: no cap.",
    )
    backfill_yield_s: float = Field(
        default=5.0,
        ge=0.0,
        description="While live tickets are under way (accepted, not yet final), backfill work "
        "waits before each of its steps (a group, a classifier chunk, route, audit, a loader "
        "batch) up to this many seconds, yielding CPU and database to them; 0: never waits.",
    )
    llm_fallback: str = Field(
        default="needs_review",
        pattern="^(needs_review|failed)$",
        description="When LLM retries are exhausted: `needs_review` (the local decision, and "
        "review) or `failed` (fail the ticket).",
    )
    llm_fallbacks: str = Field(
        default="local",
        description="When the LLM is unavailable past its retries (or over its quota or "
        "TRIAGE_LLM_MONTHLY_BUDGET), these answer in turn: a comma list of `gemini`, `openai`, "
        "`anthropic` and `local` (last: the local decision, sent to review; dropped with "
        "TRIAGE_LLM_FALLBACK=failed). Each provider listed needs its key at start-up.",
    )
    backfill_classifier: ClassifierChoice | None = Field(
        default=None,
        description="Classifier for the `backfill` queue (history), e.g. a cheaper provider; "
        "unset: TRIAGE_CLASSIFIER.",
    )
    backfill_llm_model: str | None = Field(
        default=None,
        description="Model name for the backfill queue's LLM provider; unset: TRIAGE_LLM_MODEL "
        "when the provider is the live one's, else that provider's default.",
    )
    llm_prices: str = Field(
        default="",
        description='LLM prices as JSON, USD per million tokens: `{"model": {"input": 0.3, '
        '"output": 2.5}}`, merged over the built-in snapshot (pipeline/domain/pricing.py; '
        "prices change, check the providers' pages). A model in neither: its cost is unknown.",
    )
    llm_monthly_budget: float | None = Field(
        default=None,
        gt=0,
        description="USD the LLM may cost per calendar month (UTC), all processes together "
        "(a Redis counter, seeded from the audit trail); past it the LLM tiers are skipped and "
        "TRIAGE_LLM_FALLBACKS answers. Unset: no cap.",
    )

    routing_file: Path | None = Field(
        default=None,
        description="TOML or YAML routing file: categories (with descriptions) → departments "
        "→ optional HTTP endpoint; unset: the bundled default, which records routings only.",
    )
    review_department: str = Field(
        default="review",
        description="Name of the review department (routing uses the routing file's own "
        "`review_department`).",
    )

    delivery_timeout_s: float = Field(
        default=10.0, gt=0, description="Timeout of one delivery to a department, in seconds."
    )
    delivery_signing_secret: SecretStr | None = Field(
        default=None,
        description="Signs every delivery (Standard Webhooks, `whsec_…`) so departments can "
        "verify us; unset: deliveries are not signed.",
    )
    webhook_secrets: dict[str, list[SecretStr]] = Field(
        default_factory=dict,
        description="Sources that must sign their webhooks, each with its secrets (several "
        'while rotating), as JSON: `{"zendesk": ["whsec_new", "whsec_old"]}`.',
    )
    # Helpdesk connectors, inbound (POST /webhooks/<connector>): no secret → 401 to everything.
    zendesk_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Signing secret of the Zendesk webhook (comma-separated while rotating).",
    )
    freshdesk_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Shared secret the Freshdesk automation rule sends in "
        "X-Triage-Webhook-Secret (comma-separated while rotating).",
    )
    jira_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Secret of the Jira admin webhook, X-Hub-Signature sha256 "
        "(comma-separated while rotating).",
    )
    github_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Secret of the GitHub webhook, X-Hub-Signature-256 "
        "(comma-separated while rotating).",
    )
    intercom_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Client secret of the Intercom app, X-Hub-Signature sha1 "
        "(comma-separated while rotating).",
    )
    email_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Shared secret of the inbound e-mail hook: X-Triage-Webhook-Secret or "
        "the basic-auth password (comma-separated while rotating).",
    )
    webhook_replay_window_s: int = Field(
        default=300,
        ge=1,
        description="How old (or how far ahead) a signed webhook timestamp may be, in seconds "
        "(Zendesk); older is refused (401).",
    )
    webhook_ignore_senders: str = Field(
        default="",
        description="Comma-separated helpdesk accounts (login, e-mail or account id) of our own "
        "bots: their events are acknowledged and ignored, so write-back never loops.",
    )

    # Helpdesk write-back credentials (pipeline.helpdesks): never in the routing file or trail.
    zendesk_base_url: str | None = Field(
        default=None, description="Zendesk write-back: `https://SUBDOMAIN.zendesk.com`."
    )
    zendesk_email: str | None = Field(
        default=None, description="Zendesk write-back: the agent's e-mail the API token is for."
    )
    zendesk_api_token: SecretStr | None = Field(
        default=None, description="Zendesk write-back: an API token (Admin Center > API tokens)."
    )
    freshdesk_base_url: str | None = Field(
        default=None, description="Freshdesk write-back: `https://DOMAIN.freshdesk.com`."
    )
    freshdesk_api_key: SecretStr | None = Field(
        default=None, description="Freshdesk write-back: the agent's API key (Profile settings)."
    )
    jira_base_url: str | None = Field(
        default=None, description="Jira write-back: `https://SITE.atlassian.net`."
    )
    jira_email: str | None = Field(
        default=None, description="Jira write-back: the Atlassian account's e-mail."
    )
    jira_api_token: SecretStr | None = Field(
        default=None, description="Jira write-back: an Atlassian API token for that account."
    )
    github_api_url: str = Field(
        default="https://api.github.com",
        description="GitHub write-back: the REST API root (GitHub Enterprise: `https://HOST/api/v3`).",
    )
    github_token: SecretStr | None = Field(
        default=None,
        description="GitHub write-back: a token with Issues read/write on the repositories.",
    )
    intercom_base_url: str = Field(
        default="https://api.intercom.io",
        description="Intercom write-back: the API root (`https://api.eu.intercom.io` in the EU).",
    )
    intercom_token: SecretStr | None = Field(
        default=None, description="Intercom write-back: the app's access token."
    )
    helpdesk_timeout_s: float = Field(
        default=10.0, gt=0, description="Timeout of one helpdesk write-back call, in seconds."
    )

    # Retry policy: Celery retries with exponential backoff and jitter, capped per attempt.
    classify_max_retries: int = Field(
        default=5, ge=0, description="Retries of a transient classify failure (the LLM)."
    )
    route_max_retries: int = Field(
        default=30, ge=0, description="Retries of a transient route failure (a department)."
    )
    route_retry_horizon_s: int = Field(
        default=3600,
        ge=0,
        description="A department outage is retried for this long, in seconds from the first "
        "failure, before the ticket fails.",
    )
    circuit_threshold: int = Field(
        default=5,
        ge=1,
        description="Consecutive delivery failures that open a department's circuit.",
    )
    circuit_cooldown_s: float = Field(
        default=30.0,
        gt=0,
        description="Seconds an open circuit waits before a delivery tries the department again.",
    )
    retry_backoff_max_s: int = Field(
        default=300, ge=1, description="Cap of one retry's backoff, in seconds."
    )

    # The guarantee lives in the store: the sweeper re-enqueues what did not finish in time.
    visibility_timeout: int = Field(
        default=3600,
        ge=5,
        description="Seconds before Redis hands an unacknowledged message to another worker.",
    )
    sweep_after: int = Field(
        default=600,
        ge=1,
        description="Seconds a ticket may sit in a stage before the sweeper re-enqueues it.",
    )
    sweep_interval: int = Field(
        default=30, ge=1, description="Seconds between two sweeps (`triage beat` runs them)."
    )
    max_deliveries: int = Field(
        default=5,
        ge=1,
        description="A stage whose worker died this many times on a ticket fails the ticket "
        "(a poison message); on RabbitMQ also the quorum queues' x-delivery-limit.",
    )

    task_soft_time_limit: int = Field(
        default=120, ge=1, description="Seconds a stage may run before it is asked to stop."
    )
    task_time_limit: int = Field(
        default=180, ge=1, description="Seconds a stage may run before its worker is killed."
    )
    worker_shutdown_grace_s: float = Field(
        default=30.0,
        ge=0,
        description="On shutdown, seconds a worker gives running tasks to finish.",
    )

    # Keyed hash of API keys: HMAC-SHA256(pepper, key).
    api_key_pepper: SecretStr | None = Field(
        default=None,
        description="Server secret of the API-key hashes; required by `triage api` and "
        "`triage keys`. Keep it stable: a new pepper makes every key answer 401.",
    )
    api_key_cache_s: float = Field(
        default=30.0,
        ge=0,
        description="Seconds the API remembers a checked key. With Redis a created or revoked "
        "key is seen by every API process at once; without it, a revoked key works this long.",
    )
    console_idle_minutes: float = Field(
        default=30.0,
        gt=0,
        description="Minutes of inactivity after which a review-console session ends.",
    )
    erase_request_limit: int = Field(
        default=5000,
        ge=1,
        description="Tickets one `DELETE /customers/{id}/data` erases at most; a bigger "
        "erasure answers 202 with its progress and goes on when called again.",
    )
    auth_failure_limit: str = Field(
        default="20/minute;100/hour",
        description="Failed authentications per client address, shared by every API process "
        "(Redis); past it every key from that address answers 429. `limits` syntax.",
    )
    rate_limit: str = Field(
        default="100/second;3000/minute",
        description="Requests per API key, shared by every API process (Redis); `limits` "
        "syntax, `;` between several.",
    )

    ingest_commit_batch: int = Field(
        default=64,
        ge=1,
        le=1000,
        description="Group commit: at most this many concurrent `POST /tickets` share one "
        "transaction (each still answers after its own commit); 1: each commits alone.",
    )

    # A database crash may then lose the last fraction of a second of commits, which is safe
    # only for work that is redone: a backfill batch comes back with --resume, a stage with
    # the sweeper. Live traffic keeps it off, so backfills stop competing with live commits
    # for WAL flushes.
    async_commit: bool = Field(
        default=False,
        description="PostgreSQL `synchronous_commit=off` for this process's writes: for "
        "backfill-only workers (`triage backfill` always uses it).",
    )

    max_metadata_bytes: int = Field(
        default=16_384,
        ge=0,
        description="Largest `metadata` (the body's unknown fields) a ticket may carry, in "
        "bytes; more is refused (422).",
    )
    max_ticket_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="Largest request body `POST /tickets` accepts, in bytes (413 above).",
    )

    flower_basic_auth: SecretStr | None = Field(
        default=None,
        description="Flower's basic auth as `user:password` (several separated by commas). "
        "Required: without it `triage flower` and `celery -A workers flower` refuse to start.",
    )
    flower_address: str = Field(default="127.0.0.1", description="Address Flower listens on.")
    flower_port: int = Field(default=5555, ge=1, le=65535, description="Port Flower listens on.")

    log_format: str = Field(
        default="auto",
        pattern="^(auto|json|text)$",
        description="`json` (one object per line), `text`, or `auto`: JSON off a terminal.",
    )
    log_level: str = Field(default="INFO", description="Level of the root logger.")

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

    @field_validator("llm_prices")
    @classmethod
    def _check_prices(cls, value: str) -> str:
        parse_prices(value)  # a malformed table refuses start, naming TRIAGE_LLM_PRICES
        return value

    @field_validator("llm_fallbacks")
    @classmethod
    def _check_fallbacks(cls, value: str) -> str:
        names = [name.strip().lower() for name in value.split(",") if name.strip()]
        allowed = [p.value for p in LLM_PROVIDERS] + [ClassifierChoice.local.value]
        unknown = [name for name in names if name not in allowed]
        if unknown:
            raise ValueError(f"unknown {', '.join(unknown)}: choose from {', '.join(allowed)}")
        if ClassifierChoice.local.value in names[:-1]:
            raise ValueError("`local` answers every ticket: it can only come last")
        if len(set(names)) != len(names):
            raise ValueError("each fallback may be listed once")
        return ",".join(names)

    def fallback_providers(self) -> list[ClassifierChoice]:
        """TRIAGE_LLM_FALLBACKS in order (`local` last when listed)."""
        return [ClassifierChoice(name) for name in self.llm_fallbacks.split(",") if name]

    def price_overrides(self) -> dict[str, ModelPrice]:
        """TRIAGE_LLM_PRICES, parsed (checked when the settings were built)."""
        return parse_prices(self.llm_prices)

    def queue_settings(self, queue: str) -> Settings:
        """The settings the classifier of `queue` is built from (backfill: its own choice)."""
        if queue != "backfill" or (
            self.backfill_classifier is None and self.backfill_llm_model is None
        ):
            return self
        choice = self.backfill_classifier or self.classifier
        same_provider = choice is self.classifier
        model = self.backfill_llm_model or (self.llm_model if same_provider else None)
        return self.model_copy(update={"classifier": choice, "llm_model": model})

    def provider_key(self, provider: ClassifierChoice) -> str | None:
        """One LLM provider's API key: TRIAGE_<PROVIDER>_API_KEY, else its SDK's own variables.

        Gemini on Vertex AI needs none: see has_credentials.
        """
        setting: SecretStr | None = getattr(self, f"{provider.value}_api_key")
        if setting is not None:
            return setting.get_secret_value()
        found = (os.environ.get(name) for name in PROVIDER_KEY_NAMES[provider])
        return next((value for value in found if value), None)

    def connector_secrets(self, connector: str) -> list[str]:
        """The connector's webhook secrets (TRIAGE_<CONNECTOR>_WEBHOOK_SECRET, comma-separated)."""
        setting: SecretStr | None = getattr(self, f"{connector}_webhook_secret", None)
        if setting is None:
            return []
        return [part.strip() for part in setting.get_secret_value().split(",") if part.strip()]

    def gemini_key(self) -> str | None:
        """The Gemini API key (GEMINI_API_KEY or GOOGLE_API_KEY)."""
        return self.provider_key(ClassifierChoice.gemini)

    def openai_key(self) -> str | None:
        """The OpenAI-compatible API key (OPENAI_API_KEY)."""
        return self.provider_key(ClassifierChoice.openai)

    def anthropic_key(self) -> str | None:
        """The Anthropic API key (ANTHROPIC_API_KEY)."""
        return self.provider_key(ClassifierChoice.anthropic)

    def has_credentials(self, provider: ClassifierChoice) -> bool:
        """Whether `provider` can be called: its key, or Vertex AI settings for Gemini."""
        if provider is ClassifierChoice.gemini and self.gemini_vertex_project:
            return True
        return self.provider_key(provider) is not None

    def effective_classifier(self) -> ClassifierChoice:
        """Resolve `auto`: the first LLM provider whose key is set, else the local classifier."""
        if self.classifier is ClassifierChoice.auto:
            keyed = [p for p in LLM_PROVIDERS if self.provider_key(p) is not None]
            return keyed[0] if keyed else ClassifierChoice.local
        return self.classifier

    def llm_provider(self) -> ClassifierChoice | None:
        """The LLM provider the classifier calls (None for the local classifier alone)."""
        choice = self.effective_classifier()
        if choice in LLM_PROVIDERS:
            return choice
        if choice is ClassifierChoice.cascade:
            if self.cascade_llm is not None:
                return self.cascade_llm
            keyed = [p for p in LLM_PROVIDERS if self.has_credentials(p)]
            return keyed[0] if keyed else ClassifierChoice.gemini
        return None

    def shared_redis_url(self) -> str | None:
        """Redis URL for counters shared by every process, if there is one."""
        if self.redis_url:
            return self.redis_url
        if self.broker_url.startswith(("redis://", "rediss://")):
            return self.broker_url
        return None


# TRIAGE_-prefixed names that are legitimately not settings (read by the test suite).
NOT_SETTINGS = frozenset({"TRIAGE_TEST_POSTGRES_URL", ENV_FILE_VARIABLE})


def unknown_setting_names(names: Iterable[str]) -> list[tuple[str, str | None]]:
    """Each `TRIAGE_*` name that is no setting, with the closest setting's name (or None)."""
    prefix = "TRIAGE_"
    known = {prefix + field.upper() for field in Settings.model_fields}
    unknown = []
    for name in sorted(set(names)):
        upper = name.upper()  # pydantic-settings matches names case-insensitively
        if upper.startswith(prefix) and upper not in known and upper not in NOT_SETTINGS:
            close = _closest_field(upper[len(prefix) :].lower())
            unknown.append((name, prefix + close.upper() if close else None))
    return unknown


def _closest_field(word: str) -> str | None:
    # Against each field and its tails (`api_key_pepper`, `key_pepper`, `pepper`): a typo of
    # the whole name (CLASSIFER) and a shortened one (PEPER) both find their setting.
    best, score = None, 0.0
    for field in sorted(Settings.model_fields):
        parts = field.split("_")
        for start in range(len(parts)):
            ratio = difflib.SequenceMatcher(None, word, "_".join(parts[start:])).ratio()
            ratio += 0.01 if start == 0 else 0.0  # the whole name wins a tie
            if ratio > score:
                best, score = field, ratio
        if field.startswith(word + "_") and score < 0.9:  # ROUTING: routing_file
            best, score = field, 0.9
    return best if score >= 0.75 else None
