"""`--llm-batch`: classify a backfill job's tickets through the Gemini Batch API (half price).

Submit the job's `received` tickets as grouped requests in one or more batch jobs, poll until
each job ends, then record every answer exactly as the grouped classify stage does. Tickets the
batch did not answer stay `received`; the caller enqueues them for the normal path.

While a batch runs, its tickets are held (`LLMBatchLedger.hold`) so the sweeper does not
re-enqueue tickets left `received` for hours and pay for them twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pipeline.classifiers.gemini.batch import (
    cancel_batch,
    chunk_groups,
    fetch_batch,
    poll_batch,
    submit_batch,
)
from pipeline.classifiers.gemini.classifier import GeminiClassifier
from pipeline.classifiers.group_prompt import GROUP_PROMPT_VERSION
from pipeline.domain.changes import ClassifiedTicket
from pipeline.domain.classification import TicketText
from pipeline.domain.errors import LLMRejected, LLMUnavailable, TriageError
from pipeline.ports import OperatorStores
from pipeline.stages.classify import decision_audit

MAX_REQUESTS_PER_JOB = 500  # inline requests per batch job; bigger runs become several jobs
DEFAULT_HOLD_S = 24 * 3600.0  # the Batch API's target turnaround

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SubmittedBatch:
    """A batch job and the groups it answers, in request order."""

    name: str
    groups: list[list[TicketText]]

    def ticket_ids(self) -> list[str]:
        """Every ticket of the job, in order."""
        return _ids(self.groups)


def _ids(groups: Iterable[list[TicketText]]) -> list[str]:
    return [ticket.id for group in groups for ticket in group]


def load_job_groups(store: OperatorStores, job_id: str, group_size: int) -> list[list[TicketText]]:
    """The job's tickets still `received`, in a stable order, in groups of `group_size`."""
    if group_size < 1:
        raise ValueError("group_size must be at least 1")
    texts = store.llm_batches.received_texts(job_id)
    return [texts[i : i + group_size] for i in range(0, len(texts), group_size)]


def _hold(store: OperatorStores, batch: SubmittedBatch, hold_s: float) -> None:
    """Keep the sweeper off the batch's tickets until `hold_s` from now; audit why."""
    until = datetime.now(UTC) + timedelta(seconds=hold_s)
    store.llm_batches.hold(batch.name, batch.ticket_ids(), until)


def _release(store: OperatorStores, name: str, ticket_ids: list[str], why: str) -> list[str]:
    """Lift the hold on tickets still `received`: they go the normal path; those ids."""
    return store.llm_batches.release(name, ticket_ids, why)


def submit_groups(
    store: OperatorStores,
    gemini: GeminiClassifier,
    groups: list[list[TicketText]],
    *,
    max_requests_per_job: int = MAX_REQUESTS_PER_JOB,
    hold_s: float = DEFAULT_HOLD_S,
    deadline: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress | None = None,
    display_name: str = "triage-backfill",
) -> tuple[list[SubmittedBatch], list[str]]:
    """Submit the groups in as many jobs as needed; (jobs, ids of tickets never submitted).

    An error on the first job is raised (nothing is held then); after that, the remaining
    groups are given up so the jobs already running can still be collected.
    """
    submitted: list[SubmittedBatch] = []
    unsent: list[str] = []
    for chunk in chunk_groups(groups, max_requests_per_job):
        if unsent:
            unsent.extend(_ids(chunk))
            continue
        try:
            name = submit_batch(
                gemini, chunk, deadline=deadline, sleep=sleep, display_name=display_name
            )
        except TriageError as exc:
            if not submitted:
                raise
            if progress:
                progress(f"llm batch: submitting stopped ({exc}); the rest go the normal path")
            unsent.extend(_ids(chunk))
            continue
        batch = SubmittedBatch(name, chunk)
        _hold(store, batch, hold_s)
        submitted.append(batch)
        if progress:
            tickets = len(batch.ticket_ids())
            progress(f"llm batch {name}: submitted {len(chunk)} requests for {tickets} tickets")
    return submitted, unsent


def submit_job_tickets(
    store: OperatorStores,
    gemini: GeminiClassifier,
    job_id: str,
    group_size: int,
    *,
    max_requests_per_job: int = MAX_REQUESTS_PER_JOB,
    hold_s: float = DEFAULT_HOLD_S,
) -> list[str]:
    """Submit the job's `received` tickets as grouped batch requests; the batch names."""
    groups = load_job_groups(store, job_id, group_size)
    submitted, _ = submit_groups(
        store,
        gemini,
        groups,
        max_requests_per_job=max_requests_per_job,
        hold_s=hold_s,
        display_name=f"triage-backfill {job_id}",
    )
    return [batch.name for batch in submitted]


def collect_batch(
    store: OperatorStores, gemini: GeminiClassifier, name: str, groups: list[list[TicketText]]
) -> tuple[list[str], list[str]]:
    """Record a finished job's answers in one transaction; (classified ids, left ids).

    Raises LLMUnavailable while the job is still pending or running.
    """
    outcome = fetch_batch(gemini, name, groups)
    if not outcome.state.done:
        raise LLMUnavailable(f"batch {name} is still {outcome.state}")
    answers = [
        ClassifiedTicket(
            ticket_id,
            decision,
            {
                **decision_audit(decision, outcome.latency_ms),
                "llm_batch": name,
                "grouped": True,
                "provider": "gemini",
                "model": gemini.model,
                "prompt_version": GROUP_PROMPT_VERSION,
                **outcome.groups.get(ticket_id, {}),
            },
        )
        for ticket_id in _ids(groups)
        if (decision := outcome.answers.get(ticket_id)) is not None
    ]
    why = f"no answer (batch {outcome.state})"
    classified, left = store.llm_batches.record_answers(name, answers, _ids(groups), why)
    return classified, left


def run_llm_batch(
    store: OperatorStores,
    gemini: GeminiClassifier,
    job_id: str,
    *,
    group_size: int,
    poll_interval_s: float,
    timeout_s: float,
    progress: Progress,
    max_requests_per_job: int = MAX_REQUESTS_PER_JOB,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[list[str], list[str]]:
    """Submit the job's tickets, poll until every batch ends, record; (classified, left).

    Left tickets are `received` and unheld: enqueue them for the normal classify path. After
    `timeout_s` the unfinished batches are cancelled and their tickets left too.
    """
    started = time.monotonic()
    deadline = started + timeout_s
    groups = load_job_groups(store, job_id, group_size)
    if not groups:
        progress("llm batch: no received tickets to submit")
        return [], []
    waiting, left = submit_groups(
        store,
        gemini,
        groups,
        max_requests_per_job=max_requests_per_job,
        hold_s=timeout_s + 300,  # outlives the run, so a crashed CLI frees them soon after
        deadline=deadline,
        sleep=sleep,
        progress=progress,
        display_name=f"triage-backfill {job_id}",
    )
    classified: list[str] = []
    polls = 0
    while waiting:
        polls += 1
        for batch in list(waiting):
            outcome = _poll_once(store, gemini, batch, progress)
            if outcome is None:
                continue
            classified += outcome[0]
            left += outcome[1]
            waiting.remove(batch)
            elapsed = time.monotonic() - started
            progress(
                f"llm batch {batch.name}: {len(outcome[0])} classified, {len(outcome[1])} left "
                f"(poll {polls}, {elapsed:.0f}s)"
            )
        if not waiting:
            break
        if time.monotonic() >= deadline:
            for batch in waiting:
                progress(f"llm batch {batch.name}: timed out after {timeout_s:.0f}s, cancelling")
                try:
                    cancel_batch(gemini, batch.name)
                except TriageError as exc:  # best effort: its answers would be ignored anyway
                    progress(f"llm batch {batch.name}: cancel failed ({exc})")
                left += _release(store, batch.name, batch.ticket_ids(), "timed out")
            break
        sleep(max(0.0, min(poll_interval_s, deadline - time.monotonic())))
    return classified, left


def _poll_once(
    store: OperatorStores, gemini: GeminiClassifier, batch: SubmittedBatch, progress: Progress
) -> tuple[list[str], list[str]] | None:
    """Poll one job and collect it once it ended; None while it still runs."""
    try:
        state = poll_batch(gemini, batch.name)
        progress(f"llm batch {batch.name}: {state}")
        if not state.done:
            return None
        return collect_batch(store, gemini, batch.name, batch.groups)
    except LLMRejected as exc:  # the job is gone or refused: its tickets go back
        progress(f"llm batch {batch.name}: {exc}; its tickets go the normal path")
        return [], _release(store, batch.name, batch.ticket_ids(), "rejected")
    except LLMUnavailable as exc:  # a poll failed: the job itself may well be fine
        progress(f"llm batch {batch.name}: poll failed ({exc}), retrying")
        return None
