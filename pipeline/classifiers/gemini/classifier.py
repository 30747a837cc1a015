"""The Gemini classifier: PII masked, decisions cached, calls inside the shared LLM budget."""

from __future__ import annotations

import email.utils
import logging
import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from pipeline.adapters.decision_cache import build_decision_cache, decision_key
from pipeline.adapters.llm_budget import LIVE, build_budget
from pipeline.classifiers.prompt import (
    PROMPT_VERSION,
    LLMBadAnswer,
    build_prompt,
    categories_fingerprint,
    parse_answer,
    response_schema,
)
from pipeline.domain.classification import Classification, TicketText
from pipeline.domain.errors import (
    ConfigurationError,
    LLMBudgetExhausted,
    LLMRejected,
    LLMUnavailable,
    TriageError,
)
from pipeline.domain.pii import mask_pii
from pipeline.ports import DecisionCache, LLMBudget
from pipeline.settings import Settings

log = logging.getLogger(__name__)

# google-genai 3.x sends through httpx2 by default (httpx when GOOGLE_GENAI_HTTP_CLIENT=httpx).
_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (httpx.TransportError,)
try:
    import httpx2

    _TRANSPORT_ERRORS += (httpx2.TransportError,)
except ImportError:  # pragma: no cover - an older SDK without httpx2
    pass

TRANSIENT_CODES = frozenset({408, 429, 500, 502, 503, 504})
OUTPUT_TOKEN_ALLOWANCE = 256  # the JSON answer, plus headroom for a model's thinking


@dataclass(frozen=True)
class CallDetails:
    """What one classify did, for the audit trail: never ticket text, never the key."""

    provider: str
    model: str
    prompt_version: str
    cache_hit: bool
    pii_masked: tuple[str, ...]  # kinds only, e.g. ("email", "phone")
    queue: str = LIVE
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    estimated_tokens: int | None = None
    error: str | None = None

    def as_audit(self) -> dict[str, Any]:
        """A JSON-ready dict for `audit_events.detail`."""
        detail = asdict(self)
        detail["pii_masked"] = list(self.pii_masked)
        return detail


def make_client(settings: Settings) -> genai.Client:
    """A genai client: Vertex AI with a project, else the Gemini API with a key; no SDK retry."""
    http_options = types.HttpOptions(
        # None keeps the SDK's own GOOGLE_GEMINI_BASE_URL / GOOGLE_VERTEX_BASE_URL working.
        base_url=settings.gemini_base_url or None,
        timeout=settings.gemini_timeout_ms,  # milliseconds
        # One attempt: our task retries, so every attempt passes the shared budget.
        retry_options=types.HttpRetryOptions(attempts=1),
    )
    try:
        if settings.gemini_vertex_project:
            return genai.Client(
                vertexai=True,
                project=settings.gemini_vertex_project,
                location=settings.gemini_vertex_location,
                http_options=http_options,
            )
        key = settings.gemini_key()
        if not key:
            raise ConfigurationError(
                "Gemini needs an API key (TRIAGE_GEMINI_API_KEY, GEMINI_API_KEY or "
                "GOOGLE_API_KEY) or a Vertex AI project (TRIAGE_GEMINI_VERTEX_PROJECT)"
            )
        return genai.Client(api_key=key, http_options=http_options)
    except ValueError as exc:  # the SDK's own configuration checks
        raise ConfigurationError(f"cannot configure the Gemini client: {exc}") from None


def estimate_tokens(*texts: str) -> int:
    """A generous token estimate (3.5 characters a token) plus the answer's allowance."""
    return math.ceil(sum(len(t) for t in texts) / 3.5) + OUTPUT_TOKEN_ALLOWANCE


def _seconds(value: object) -> float | None:
    """A protobuf Duration ("12s", "1.5s") or a plain number of seconds."""
    try:
        seconds = float(str(value).strip().removesuffix("s"))
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def parse_retry_after(exc: genai_errors.APIError) -> float | None:
    """Seconds to wait from RetryInfo.retryDelay ("12s") or the Retry-After header (largest)."""
    waits: list[float | None] = []
    body = exc.details if isinstance(exc.details, dict) else {}
    error = body.get("error", body)
    details = error.get("details") if isinstance(error, dict) else None
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith(".RetryInfo"):
            waits.append(_seconds(detail.get("retryDelay")))
    headers = getattr(exc.response, "headers", None)
    header = headers.get("retry-after") if headers is not None else None
    if header:
        wait = _seconds(header)
        if wait is None:  # the HTTP-date form
            try:
                when = email.utils.parsedate_to_datetime(header).timestamp()
                wait = max(0.0, when - time.time())
            except (TypeError, ValueError):
                wait = None
        waits.append(wait)
    known = [wait for wait in waits if wait is not None]
    return max(known) if known else None


def _provider_message(exc: genai_errors.APIError, sent: str, key: str | None) -> str:
    """The provider's message, unless it could quote what we sent; never the API key."""
    message = " ".join(str(exc.message or "").split())[:200]
    if key and key in message:
        message = message.replace(key, "***")
    # A 400 may echo part of the request: then say nothing rather than leak ticket text.
    if any(sent[i : i + 24] in message for i in range(0, max(1, len(sent) - 23), 8)):
        return "(message withheld: it quotes the request)"
    return message


def map_api_error(exc: genai_errors.APIError, sent: str, key: str | None) -> TriageError:
    """408/429/5xx → LLMUnavailable with retry_after; any other status → LLMRejected."""
    label = f"{exc.code} {exc.status or ''}".strip()
    message = _provider_message(exc, sent, key)
    if exc.code in TRANSIENT_CODES or 500 <= exc.code < 600:
        return LLMUnavailable(f"Gemini unavailable: {label}", retry_after=parse_retry_after(exc))
    return LLMRejected(f"Gemini refused the request: {label}: {message}")


class GeminiClassifier:
    """The Classifier Protocol on google-genai; `classify_with_details` also says what it did."""

    name = "gemini"

    def __init__(
        self,
        settings: Settings,
        categories: Mapping[str, str],
        *,
        budget: LLMBudget | None = None,
        cache: DecisionCache | None = None,
        client: genai.Client | None = None,
        queue: str = LIVE,
    ) -> None:
        if not categories:
            raise ConfigurationError("the Gemini classifier needs at least one category")
        self.model = settings.gemini_model
        self.model_version = f"{self.model}/{PROMPT_VERSION}"
        self.categories = dict(categories)
        self.queue = queue
        self.budget = budget if budget is not None else build_budget(settings)
        self.cache = cache if cache is not None else build_decision_cache(settings)
        self.client = client if client is not None else make_client(settings)
        self._key = settings.gemini_key()
        self._fingerprint = categories_fingerprint(self.categories)
        # Built once (it was 1% of a worker per call). A Schema, not a dict: the SDK rewrites a
        # dict schema in place on every call, while it works on a copy of a Schema.
        self.schema = types.Schema.model_validate(response_schema(self.categories))
        self._built: types.GenerateContentConfig | None = None
        self._local = threading.local()  # last_call per thread: LLM stages run on thread pools

    @property
    def last_call(self) -> CallDetails | None:
        """Details of this thread's latest classify (successful or not)."""
        return getattr(self._local, "last_call", None)

    def classify(self, ticket: TicketText) -> Classification:
        """Classify one ticket (see `classify_with_details`)."""
        return self.classify_with_details(ticket)[0]

    def classify_many(self, tickets: Sequence[TicketText]) -> list[Classification]:
        """Each ticket in turn (one call each)."""
        return [self.classify(ticket) for ticket in tickets]

    def classify_with_details(
        self, ticket: TicketText, *, queue: str | None = None
    ) -> tuple[Classification, CallDetails]:
        """Mask PII, answer from the cache or one budgeted call; raise LLM* errors."""
        queue = queue or self.queue
        subject, subject_kinds = mask_pii(ticket.subject)
        description, description_kinds = mask_pii(ticket.description)
        details = CallDetails(
            provider=self.name,
            model=self.model,
            prompt_version=PROMPT_VERSION,
            cache_hit=False,
            pii_masked=tuple(sorted(subject_kinds | description_kinds)),
            queue=queue,
        )
        key = decision_key(self.model, PROMPT_VERSION, subject, description, self._fingerprint)
        cached = self.cache.get(key)
        if cached is not None and cached.category in self.categories:
            return cached, self._remember(details, cache_hit=True)

        masked = TicketText(id=ticket.id, subject=subject, description=description)
        system, contents = build_prompt(masked, self.categories)
        estimate = estimate_tokens(system, contents)
        details = self._remember(details, estimated_tokens=estimate)
        wait = self.budget.try_acquire(estimate, queue=queue)
        if wait > 0:
            self._remember(details, error="budget exhausted")
            raise LLMBudgetExhausted(f"LLM budget exhausted, wait {wait:.2f}s", retry_after=wait)

        started = time.perf_counter()
        try:
            response = self.client.models.generate_content(
                model=self.model, contents=contents, config=self._config(system)
            )
        except genai_errors.APIError as exc:
            self._remember(details, latency_ms=_ms(started), error=f"{exc.code} {exc.status}")
            raise map_api_error(exc, contents, self._key) from None
        except _TRANSPORT_ERRORS as exc:
            self._remember(details, latency_ms=_ms(started), error=type(exc).__name__)
            raise LLMUnavailable(f"Gemini unreachable: {type(exc).__name__}") from None
        except genai_errors.UnknownApiResponseError:
            self._remember(details, latency_ms=_ms(started), error="unreadable response")
            raise LLMBadAnswer("Gemini's response is not JSON") from None

        usage = response.usage_metadata
        prompt_tokens = usage.prompt_token_count if usage else None
        output_tokens = usage.candidates_token_count if usage else None
        details = self._remember(
            details,
            latency_ms=_ms(started),
            prompt_tokens=prompt_tokens,
            output_tokens=output_tokens,
        )
        if usage and usage.total_token_count:  # thinking tokens count against the quota too
            self.budget.record_tokens(usage.total_token_count, estimated=estimate, queue=queue)

        text = response.text
        feedback = response.prompt_feedback
        if not text and feedback is not None and feedback.block_reason is not None:
            self._remember(details, error="blocked")
            raise LLMRejected(f"Gemini blocked the prompt: {feedback.block_reason}")
        try:
            decision = parse_answer(
                text, self.categories, classifier=self.name, model=self.model_version
            )
        except LLMBadAnswer:
            self._remember(details, error="answer outside the schema")
            raise
        self.cache.put(key, decision)
        return decision, details

    def close(self) -> None:
        """Close the SDK's HTTP connections."""
        self.client.close()

    def _config(self, system: str) -> types.GenerateContentConfig:
        # The system instruction depends on the categories only: one config serves every call.
        config = self._built
        if config is None or config.system_instruction != system:
            config = types.GenerateContentConfig(
                system_instruction=system,
                response_mime_type="application/json",
                response_schema=self.schema,
                temperature=0,
            )
            self._built = config
        return config

    def _remember(self, details: CallDetails, **changes: Any) -> CallDetails:
        updated = CallDetails(**{**asdict(details), **changes})
        self._local.last_call = updated
        return updated


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
