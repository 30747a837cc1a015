"""A stub Gemini API on 127.0.0.1: records every request, answers from a script.

It also serves the Batch API the SDK speaks in Gemini Developer API mode: a POST to
`models/{model}:batchGenerateContent` with inline requests creates a batch (an operation named
`batches/stub-N`); each GET of `batches/stub-N` answers pending, then running, then its final
state, where a succeeded batch carries one inlined response per inline request.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the stub received it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    raw: bytes
    received_at: float  # time.monotonic() on arrival
    received_wall: float  # time.time() on arrival: comparable with other processes' clocks

    @property
    def body(self) -> Any:
        """The JSON body, or None when it is not JSON."""
        try:
            return json.loads(self.raw)
        except ValueError:
            return None

    @property
    def text(self) -> str:
        """The raw body as text (to search for values that must never be sent)."""
        return self.raw.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class StubResponse:
    """What the stub answers: status, JSON (or raw text) body, headers; optionally held back."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hold_s: float = 0.0  # answer only after this long (or at stop): for client timeouts


def classification_json(
    category: str = "billing",
    urgency: str = "normal",
    language: str = "en",
    confidence: float = 0.93,
    reason: str = "the customer asks about a charge",
) -> str:
    """The text a well-behaved model answers."""
    return json.dumps(
        {
            "category": category,
            "urgency": urgency,
            "language": language,
            "confidence": confidence,
            "reason": reason,
        }
    )


def text_response(
    text: str, *, prompt_tokens: int = 321, output_tokens: int = 42, finish: str = "STOP"
) -> StubResponse:
    """A generateContent answer whose only candidate says `text`, with usage metadata."""
    return StubResponse(
        body={
            "candidates": [
                {
                    "content": {"parts": [{"text": text}], "role": "model"},
                    "finishReason": finish,
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": prompt_tokens,
                "candidatesTokenCount": output_tokens,
                "totalTokenCount": prompt_tokens + output_tokens,
            },
            "modelVersion": "gemini-2.5-flash",
            "responseId": "stub-response",
        }
    )


def error_response(
    code: int,
    status: str,
    message: str = "stub error",
    *,
    retry_delay: str | None = None,
    headers: dict[str, str] | None = None,
) -> StubResponse:
    """A Google API error body, with RetryInfo when `retry_delay` is given ("2s")."""
    details: list[dict[str, Any]] = []
    if retry_delay is not None:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}
        )
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return StubResponse(status=code, body={"error": error}, headers=headers or {})


def group_answer_json(
    ids: list[str], category: str = "billing", *, confidence: float = 0.9, **extra: Any
) -> str:
    """The text a model answers to a grouped request: one valid result per id."""
    results = [
        {
            "id": ticket_id,
            "category": category,
            "urgency": "normal",
            "language": "en",
            "confidence": confidence,
            "reason": "grouped stub answer",
            **extra,
        }
        for ticket_id in ids
    ]
    return json.dumps({"results": results})


_TICKET_ID = re.compile(r'<ticket id="([^"]*)">')


def prompt_ticket_ids(request: RecordedRequest) -> list[str]:
    """The ticket ids a grouped generateContent request (or inline request) carries, in order."""
    body = request.body or {}
    texts = [
        part.get("text", "")
        for content in body.get("contents", [])
        for part in content.get("parts", [])
    ]
    return _TICKET_ID.findall("".join(texts))


def answer_every_ticket(request: RecordedRequest) -> StubResponse:
    """A responder that classifies every ticket of a grouped request as billing."""
    return text_response(group_answer_json(prompt_ticket_ids(request)))


Responder = Callable[[RecordedRequest], StubResponse]
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


class GeminiStub:
    """The stub server: `script` answers come first, in order; then `default` answers."""

    def __init__(self, default: Responder | None = None) -> None:
        self.requests: list[RecordedRequest] = []
        self.default: Responder = default or (lambda _request: text_response(classification_json()))
        self._script: deque[StubResponse] = deque()
        # Batch API: inline requests are answered by `enqueue_inline` scripts in order, then
        # `inline_responder`, else by `default` (the stub's normal generateContent answer).
        self.batches: dict[str, StubBatch] = {}
        self.batch_plan = BatchPlan()
        self.inline_responder: InlineResponder | None = None
        self._inline_script: deque[StubResponse | None] = deque()
        self._batch_plans: deque[BatchPlan] = deque()
        self._create_errors: deque[StubResponse] = deque()
        self._batch_ids = itertools.count(1)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL to give the SDK (`HttpOptions(base_url=...)`)."""
        assert self._server is not None, "stub not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def enqueue(self, *responses: StubResponse) -> None:
        """Answer the next requests with these, in order."""
        with self._lock:
            self._script.extend(responses)

    def recorded(self) -> list[RecordedRequest]:
        """A copy of every request received so far."""
        with self._lock:
            return list(self.requests)

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

    def _answer(self, request: RecordedRequest) -> StubResponse:
        batch = self._batch_answer(request)
        if batch is not None:
            return batch
        with self._lock:
            self.requests.append(request)
            scripted = self._script.popleft() if self._script else None
        return scripted if scripted is not None else self.default(request)

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

    def start(self) -> GeminiStub:
        """Listen on a free port of 127.0.0.1 in a background thread."""
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self._handle("POST")

            def do_GET(self) -> None:
                self._handle("GET")

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                request = RecordedRequest(
                    method=method,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    raw=raw,
                    received_at=time.monotonic(),
                    received_wall=time.time(),
                )
                answer = stub._answer(request)
                if answer.hold_s:
                    stub._stopping.wait(answer.hold_s)
                body = answer.body
                data = (
                    body
                    if isinstance(body, bytes)
                    else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
                )
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout test): nothing to answer
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                # Silence: the default handler prints every request line to stderr.
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            # A short poll keeps shutdown() quick (the default waits up to 0.5 s).
            target=self._server.serve_forever,
            args=(0.02,),
            name="gemini-stub",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release held answers and shut the server down."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


@contextmanager
def running_stub(default: Responder | None = None) -> Iterator[GeminiStub]:
    """A started stub, stopped afterwards."""
    stub = GeminiStub(default).start()
    try:
        yield stub
    finally:
        stub.stop()
