"""In-memory stand-ins for tests: a classifier and an LLM transport that answer from a script."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.classifiers.offline import OfflineCalls
from pipeline.domain.classification import Classification, TicketText
from pipeline.ports import LLMAnswer

Answer = Classification | BaseException


@dataclass
class ScriptedClassifier(OfflineCalls):
    """Returns (or raises) scripted answers in order, then `default` for every further ticket."""

    default: Classification | Callable[[TicketText], Classification]
    script: list[Answer] = field(default_factory=list)
    seen: list[TicketText] = field(default_factory=list)
    name: str = "scripted"
    model_version: str = "scripted-1"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def classify(self, ticket: TicketText) -> Classification:
        """The next scripted answer, or the default."""
        with self._lock:
            self.seen.append(ticket)
            answer: Answer | None = self.script.pop(0) if self.script else None
        if isinstance(answer, BaseException):
            raise answer
        if answer is not None:
            return answer
        return self.default(ticket) if callable(self.default) else self.default

    def classify_many(self, tickets: Sequence[TicketText]) -> list[Classification]:
        """Each ticket in turn."""
        return [self.classify(t) for t in tickets]


@dataclass(frozen=True)
class SentRequest:
    """One request an LLM classifier handed to the transport (already PII-masked)."""

    system: str
    contents: str
    schema: dict[str, Any]
    model: str


Reply = str | LLMAnswer | BaseException


@dataclass
class ScriptedTransport:
    """The LLM transport port in memory: scripted replies (text, answer or error), then default.

    A plain text reply is answered with `prompt_tokens`/`output_tokens` as its usage.
    """

    default: str | LLMAnswer | Callable[[SentRequest], str | LLMAnswer]
    script: list[Reply] = field(default_factory=list)
    sent: list[SentRequest] = field(default_factory=list)
    provider: str = "scripted-llm"
    prompt_tokens: int = 321
    output_tokens: int = 42
    closed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def send(self, *, system: str, contents: str, schema: dict[str, Any], model: str) -> LLMAnswer:
        """Record the request; the next scripted reply, or the default."""
        request = SentRequest(system, contents, schema, model)
        with self._lock:
            self.sent.append(request)
            reply: Reply | None = self.script.pop(0) if self.script else None
        if reply is None:
            reply = self.default(request) if callable(self.default) else self.default
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, LLMAnswer):
            return reply
        total = self.prompt_tokens + self.output_tokens
        return LLMAnswer(reply, self.prompt_tokens, self.output_tokens, total)

    def close(self) -> None:
        """Remember that the classifier closed it."""
        self.closed = True
