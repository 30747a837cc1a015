"""The stub Gemini API's Batch API, as the SDK speaks it in Gemini Developer API mode.

A POST to `models/{model}:batchGenerateContent` with inline requests creates a batch (an
operation named `batches/stub-N`); each GET of `batches/stub-N` answers pending, then running,
then its final state, where a succeeded batch carries one inlined response per inline request;
`batches/stub-N:cancel` cancels it. Shapes and state names follow the reference:
https://ai.google.dev/api/batch-api (`GenerateContentBatch`, `BatchState`,
`InlinedResponses`) and the long-running `Operation` it answers with.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.testing.gemini_responses import RecordedRequest, StubResponse, error_response

# An inline request's answer; None leaves the request without any inlined response.
InlineResponder = Callable[[RecordedRequest], StubResponse | None]

# The final states a stub batch can end in (the Gemini API's BatchState names).
BATCH_OUTCOMES = {
    "succeeded": "BATCH_STATE_SUCCEEDED",
    "failed": "BATCH_STATE_FAILED",
    "cancelled": "BATCH_STATE_CANCELLED",
    "expired": "BATCH_STATE_EXPIRED",
}
_BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
_CREATE_PATH = re.compile(r"/models/(?P<model>[^/:?]+):batchGenerateContent")
_BATCH_PATH = re.compile(r"/batches/(?P<id>[^/:?]+)(?P<cancel>:cancel)?")


@dataclass(frozen=True)
class BatchPlan:
    """How the next batch created behaves: GETs before its final state, and that state."""

    outcome: str = "succeeded"  # a key of BATCH_OUTCOMES
    polls: int = 2  # GETs answered pending (the first) then running, before the outcome


@dataclass
class StubBatch:
    """One batch the stub accepted: its inline requests as sent, and where it stands."""

    name: str
    model: str
    display_name: str | None
    requests: list[dict[str, Any]]  # each {"request": {...}, "metadata": {...}} as sent
    plan: BatchPlan
    created: str
    polls: int = 0
    cancelled: bool = False
    responses: list[dict[str, Any]] | None = None  # filled once, when the batch succeeds

    def state(self) -> str:
        """The state this batch shows now."""
        if self.cancelled:
            return BATCH_OUTCOMES["cancelled"]
        if self.polls <= self.plan.polls:
            return "BATCH_STATE_PENDING" if self.polls <= 1 else "BATCH_STATE_RUNNING"
        return BATCH_OUTCOMES[self.plan.outcome]

    def inner_request(self, index: int) -> RecordedRequest:
        """Inline request `index` as if it had been sent to generateContent on its own."""
        return RecordedRequest(
            method="POST",
            path=f"/v1beta/models/{self.model}:generateContent",
            headers={},
            raw=json.dumps(self.requests[index].get("request", {})).encode(),
            received_at=time.monotonic(),
            received_wall=time.time(),
        )


def _now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class BatchAPI:
    """The Batch API half of the stub server (mixed into `GeminiStub`)."""

    default: Callable[[RecordedRequest], StubResponse]
    requests: list[RecordedRequest]
    _lock: threading.Lock

    def _init_batches(self) -> None:
        # Inline requests are answered by `enqueue_inline` scripts in order, then
        # `inline_responder`, else by `default` (the stub's normal generateContent answer).
        self.batches: dict[str, StubBatch] = {}
        self.batch_plan = BatchPlan()
        self.inline_responder: InlineResponder | None = None
        self._inline_script: deque[StubResponse | None] = deque()
        self._batch_plans: deque[BatchPlan] = deque()
        self._create_errors: deque[StubResponse] = deque()
        self._batch_ids = itertools.count(1)

    def plan_batches(self, *plans: BatchPlan) -> None:
        """The next batches created behave like these, in order (then like `batch_plan`)."""
        with self._lock:
            self._batch_plans.extend(plans)

    def enqueue_inline(self, *responses: StubResponse | None) -> None:
        """Answer the next inline requests with these, in order (None: no response at all)."""
        with self._lock:
            self._inline_script.extend(responses)

    def fail_next_batch_create(self, *responses: StubResponse) -> None:
        """Answer the next batch creations with these errors, in order."""
        with self._lock:
            self._create_errors.extend(responses)

    def batch_list(self) -> list[StubBatch]:
        """Every batch created so far, oldest first."""
        with self._lock:
            return list(self.batches.values())

    def _batch_answer(self, request: RecordedRequest) -> StubResponse | None:
        """The Batch API's answer, or None when the request is not for the Batch API."""
        path = request.path.split("?", 1)[0]
        create = _CREATE_PATH.search(path) if request.method == "POST" else None
        found = _BATCH_PATH.search(path)
        if create is None and found is None:
            return None
        with self._lock:
            self.requests.append(request)
            if create is not None:
                if self._create_errors:
                    return self._create_errors.popleft()
                return StubResponse(body=self._create_batch(create["model"], request.body or {}))
            assert found is not None
            batch = self.batches.get(f"batches/{found['id']}")
            if batch is None:
                return error_response(404, "NOT_FOUND", "no such batch")
            if found["cancel"]:
                batch.cancelled = batch.responses is None
                return StubResponse(body={})
            batch.polls += 1
            state = batch.state()
            if state == BATCH_OUTCOMES["succeeded"] and batch.responses is None:
                batch.responses = self._inline_responses(batch)
            return StubResponse(body=self._operation(batch))

    def _create_batch(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        spec = body.get("batch", {})
        requests = spec.get("inputConfig", {}).get("requests", {}).get("requests", [])
        name = f"batches/stub-{next(self._batch_ids)}"
        plan = self._batch_plans.popleft() if self._batch_plans else self.batch_plan
        batch = StubBatch(
            name, model, spec.get("displayName"), list(requests), plan, _now_rfc3339()
        )
        self.batches[name] = batch
        return self._operation(batch, "BATCH_STATE_PENDING")  # a new batch never starts done

    def _inline_responses(self, batch: StubBatch) -> list[dict[str, Any]]:
        """One inlined response per inline request (called with the lock held)."""
        out: list[dict[str, Any]] = []
        for index, sent in enumerate(batch.requests):
            inner = batch.inner_request(index)
            if self._inline_script:
                answer = self._inline_script.popleft()
            else:
                answer = (self.inline_responder or self.default)(inner)
            if answer is None:
                continue
            entry: dict[str, Any] = {}
            if answer.status == 200:
                entry["response"] = answer.body
            else:
                error = answer.body.get("error") if isinstance(answer.body, dict) else None
                entry["error"] = error or {"code": answer.status, "message": "stub error"}
            if sent.get("metadata"):
                entry["metadata"] = sent["metadata"]
            out.append(entry)
        return out

    def _operation(self, batch: StubBatch, state: str | None = None) -> dict[str, Any]:
        """The long-running operation the Gemini API answers for a batch."""
        state = state or batch.state()
        metadata: dict[str, Any] = {
            "@type": _BATCH_TYPE,
            "name": batch.name,
            "model": f"models/{batch.model}",
            "createTime": batch.created,
            "updateTime": _now_rfc3339(),
            "batchStats": {"requestCount": str(len(batch.requests))},
            "state": state,
        }
        if batch.display_name:
            metadata["displayName"] = batch.display_name
        operation: dict[str, Any] = {"name": batch.name, "metadata": metadata}
        if state == BATCH_OUTCOMES["succeeded"]:
            output = {"inlinedResponses": {"inlinedResponses": batch.responses or []}}
            metadata["output"] = output
            operation["done"] = True
            operation["response"] = {"@type": _BATCH_TYPE + "Output", **output}
        elif state in BATCH_OUTCOMES.values():
            operation["done"] = True
            operation["error"] = {"code": 13, "message": f"stub batch {state}"}
        return operation
