"""The Gemini Batch API for backfills: grouped requests inline, half price, answered later.

One batch job carries one grouped-classification request per group of tickets (the prompt and
schema of `pipeline.classifiers.group_prompt`), PII masked. Every request passes the shared
budget before the job is created. Results come back as inlined responses, documented to be in
request order: the i-th answers the i-th group, unless it echoes our request metadata (the
group's index), which wins.
A mis-paired answer cannot mislabel a ticket: `parse_group_answer` keeps only the group's ids.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from google.genai import errors as genai_errors
from google.genai import types

from pipeline.adapters.llm_budget import BACKFILL
from pipeline.classifiers.gemini.classifier import GeminiClassifier
from pipeline.classifiers.gemini.transport import TRANSPORT_ERRORS, map_api_error
from pipeline.classifiers.group_prompt import (
    GROUP_PROMPT_VERSION,
    build_group_prompt,
    group_schema,
    salvage_group_answer,
)
from pipeline.classifiers.llm_group import group_estimate, mask_group
from pipeline.domain.classification import Classification, TicketText
from pipeline.domain.errors import (
    ConfigurationError,
    LLMBadAnswer,
    LLMBudgetExhausted,
    LLMRejected,
    LLMUnavailable,
)

# The Gemini API caps a batch's inline requests at 20 MB: stay well under it by characters.
MAX_INLINE_CHARS = 12_000_000
GROUP_KEY = "group"  # the request metadata the provider may echo back (it is not always)
# The Batch API is documented on v1beta; google-genai 3.x defaults to v1 for every call.
_BATCH_HTTP = types.HttpOptions(api_version="v1beta")


class BatchState(StrEnum):
    """Where a batch job stands, in our words."""

    pending = "pending"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"
    expired = "expired"

    @property
    def done(self) -> bool:
        """Whether the job will not change any more."""
        return self not in (BatchState.pending, BatchState.running)


_J = types.JobState
_STATES: dict[types.JobState, BatchState] = {
    _J.JOB_STATE_UNSPECIFIED: BatchState.pending,
    _J.JOB_STATE_QUEUED: BatchState.pending,
    _J.JOB_STATE_PENDING: BatchState.pending,
    _J.JOB_STATE_PAUSED: BatchState.pending,
    _J.JOB_STATE_RUNNING: BatchState.running,
    _J.JOB_STATE_UPDATING: BatchState.running,
    _J.JOB_STATE_CANCELLING: BatchState.running,  # may still end succeeded
    _J.JOB_STATE_SUCCEEDED: BatchState.succeeded,
    # Some answers may be missing: they are simply absent, as with any missing answer.
    _J.JOB_STATE_PARTIALLY_SUCCEEDED: BatchState.succeeded,
    _J.JOB_STATE_FAILED: BatchState.failed,
    _J.JOB_STATE_CANCELLED: BatchState.cancelled,
    _J.JOB_STATE_EXPIRED: BatchState.expired,
}


def batch_state(state: types.JobState | None) -> BatchState:
    """Our state for the SDK's; an unknown one counts as running (keep polling, bounded)."""
    return _STATES.get(state, BatchState.running) if state is not None else BatchState.pending


@dataclass(frozen=True)
class BatchOutcome:
    """A batch job as fetched: its state, the valid answers, and what each group cost."""

    state: BatchState
    answers: dict[str, Classification] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)  # ticket id → group detail
    latency_ms: float = 0.0  # created → last update, as the provider reports it


def chunk_groups(
    groups: Sequence[list[TicketText]], max_requests_per_job: int, max_chars: int = MAX_INLINE_CHARS
) -> list[list[list[TicketText]]]:
    """Groups split into jobs of at most `max_requests_per_job` requests and ~`max_chars`."""
    if max_requests_per_job < 1:
        raise ValueError("max_requests_per_job must be at least 1")
    chunks: list[list[list[TicketText]]] = []
    current: list[list[TicketText]] = []
    chars = 0
    for group in groups:
        size = sum(len(t.subject) + len(t.description) + len(t.id) + 64 for t in group)
        if current and (len(current) >= max_requests_per_job or chars + size > max_chars):
            chunks.append(current)
            current, chars = [], 0
        current.append(group)
        chars += size
    if current:
        chunks.append(current)
    return chunks


def inline_request(
    gemini: GeminiClassifier, group: Sequence[TicketText], index: int
) -> tuple[types.InlinedRequest, int]:
    """(request, token estimate) of one group, as `classify_group` would send it."""
    masked, _ = mask_group(group)
    system, contents = build_group_prompt(masked, gemini.categories)
    request = types.InlinedRequest(
        model=gemini.model,
        contents=contents,
        metadata={GROUP_KEY: str(index)},
        config=types.GenerateContentConfig(
            system_instruction=system,
            response_mime_type="application/json",
            response_schema=group_schema(list(gemini.categories)),
            temperature=0,
        ),
    )
    return request, group_estimate(system, contents, len(group))


def acquire_budget(
    gemini: GeminiClassifier,
    estimate: int,
    *,
    deadline: float | None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """One backfill request from the shared budget, waiting as told; give up at `deadline`."""
    while (wait := gemini.budget.try_acquire(estimate, queue=BACKFILL)) > 0:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left < wait:
            raise LLMBudgetExhausted(f"LLM budget exhausted, wait {wait:.2f}s", retry_after=wait)
        sleep(wait)


def _call(gemini: GeminiClassifier, what: Callable[[], Any], sent: str = "") -> Any:
    """Run an SDK call, mapping its errors to ours (transient or permanent)."""
    try:
        return what()
    except genai_errors.APIError as exc:
        raise map_api_error(exc, sent, gemini.transport.key) from None
    except TRANSPORT_ERRORS as exc:
        raise LLMUnavailable(f"Gemini unreachable: {type(exc).__name__}") from None
    except genai_errors.UnknownApiResponseError:
        raise LLMUnavailable("Gemini's batch response is not JSON") from None
    except ValueError as exc:  # the SDK's own checks (e.g. a malformed batch name)
        raise ConfigurationError(f"Gemini Batch API: {exc}") from None


def submit_batch(
    gemini: GeminiClassifier,
    groups: list[list[TicketText]],
    *,
    deadline: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    display_name: str = "triage-backfill",
) -> str:
    """Create one batch job, one inline request per group (each budgeted); its name."""
    if not groups:
        raise ValueError("a batch needs at least one group")
    if gemini.transport.client.vertexai:  # Vertex AI batches read from GCS or BigQuery only
        raise ConfigurationError("--llm-batch needs the Gemini Developer API, not Vertex AI")
    requests: list[types.InlinedRequest] = []
    for index, group in enumerate(groups):
        request, estimate = inline_request(gemini, group, index)
        acquire_budget(gemini, estimate, deadline=deadline, sleep=sleep)
        requests.append(request)
    sent = "\n".join(str(r.contents) for r in requests)  # to withhold errors that quote it
    # The API requires a display name; it is also what the operator sees in AI Studio.
    config = types.CreateBatchJobConfig(display_name=display_name, http_options=_BATCH_HTTP)
    job = _call(
        gemini,
        lambda: gemini.transport.client.batches.create(
            model=gemini.model, src=requests, config=config
        ),
        sent,
    )
    if not job.name:
        raise LLMRejected("Gemini created a batch without a name")
    return str(job.name)


def poll_batch(gemini: GeminiClassifier, name: str) -> BatchState:
    """The job's current state."""
    return batch_state(_get(gemini, name).state)


def cancel_batch(gemini: GeminiClassifier, name: str) -> None:
    """Ask the provider to stop the job (its unanswered requests are not billed)."""
    config = types.CancelBatchJobConfig(http_options=_BATCH_HTTP)
    _call(gemini, lambda: gemini.transport.client.batches.cancel(name=name, config=config))


def _get(gemini: GeminiClassifier, name: str) -> types.BatchJob:
    config = types.GetBatchJobConfig(http_options=_BATCH_HTTP)
    job: types.BatchJob = _call(
        gemini, lambda: gemini.transport.client.batches.get(name=name, config=config)
    )
    return job


def fetch_batch(
    gemini: GeminiClassifier, name: str, groups: Sequence[Sequence[TicketText]]
) -> BatchOutcome:
    """The job's state and, once it succeeded, every valid answer with its group's details."""
    job = _get(gemini, name)
    state = batch_state(job.state)
    if state is not BatchState.succeeded:
        return BatchOutcome(state)
    latency_ms = 0.0
    finished = job.end_time or job.update_time
    if job.create_time and finished:
        latency_ms = (finished - job.create_time).total_seconds() * 1000
    model = f"{gemini.model}/{GROUP_PROMPT_VERSION}"
    responses = (job.dest.inlined_responses if job.dest else None) or []
    answers: dict[str, Classification] = {}
    details: dict[str, dict[str, Any]] = {}
    for position, inlined in enumerate(responses):
        index = _group_index(inlined, position)
        if index is None or index >= len(groups) or inlined.error or not inlined.response:
            continue
        group = groups[index]
        response = inlined.response
        ids = [t.id for t in group]
        try:
            salvaged = salvage_group_answer(
                response.text, ids, gemini.categories, model, classifier=gemini.name
            )
        except LLMBadAnswer:
            continue
        usage = response.usage_metadata
        if usage and usage.total_token_count:  # an overrun of the estimate still counts
            _, estimate = inline_request(gemini, group, index)
            gemini.budget.record_tokens(usage.total_token_count, estimated=estimate, queue=BACKFILL)
        detail = {
            "group_size": len(group),
            "answered": len(salvaged.decisions),
            "prompt_tokens": usage.prompt_token_count if usage else None,
            "output_tokens": usage.candidates_token_count if usage else None,
            "pii_masked": sorted(mask_group(group)[1]),
        }
        for ticket_id, decision in salvaged.decisions.items():
            answers.setdefault(ticket_id, decision)
            repaired = salvaged.repaired.get(ticket_id)
            details.setdefault(
                ticket_id, detail | ({"repaired": list(repaired)} if repaired else {})
            )
    return BatchOutcome(state, answers, details, round(latency_ms, 1))


def _group_index(inlined: types.InlinedResponse, position: int) -> int | None:
    """The group a response answers: our metadata echoed back, else its position."""
    key = (inlined.metadata or {}).get(GROUP_KEY)
    if key is None:
        return position
    return int(key) if key.isdigit() else None


def batch_results(
    gemini: GeminiClassifier, name: str, groups: Sequence[Sequence[TicketText]]
) -> dict[str, Classification]:
    """The valid answers of a finished job by ticket id; anything else is simply absent."""
    return fetch_batch(gemini, name, groups).answers
