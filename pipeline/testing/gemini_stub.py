"""A stub Gemini API on 127.0.0.1: records every request, answers from a script.

It answers `models/{model}:generateContent` (https://ai.google.dev/api/generate-content) with
the bodies of `pipeline.testing.gemini_responses`, and serves the Batch API the SDK speaks in
Gemini Developer API mode (`pipeline.testing.gemini_batches`, https://ai.google.dev/api/batch-api).
Standard library only (http.server): tests and the bench share it, and no web framework.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pipeline.testing.gemini_batches import BatchAPI
from pipeline.testing.gemini_responses import (
    RecordedRequest,
    StubResponse,
    classification_json,
    text_response,
)
from pipeline.testing.stub_server import StubServer

Responder = Callable[[RecordedRequest], StubResponse]


class GeminiStub(BatchAPI, StubServer):
    """The stub server: `script` answers come first, in order; then `default` answers."""

    name = "gemini-stub"
    content_type = "application/json; charset=UTF-8"

    def __init__(self, default: Responder | None = None) -> None:
        super().__init__()
        self.default: Responder = default or (lambda _request: text_response(classification_json()))
        self._init_batches()

    def _answer(self, request: RecordedRequest) -> StubResponse:
        batch = self._batch_answer(request)
        if batch is not None:
            return batch
        self._record(request)
        scripted = self._next_scripted()
        return scripted if scripted is not None else self.default(request)


@contextmanager
def running_stub(default: Responder | None = None) -> Iterator[GeminiStub]:
    """A started stub, stopped afterwards."""
    stub = GeminiStub(default).start()
    try:
        yield stub
    finally:
        stub.stop()
