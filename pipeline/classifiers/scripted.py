"""An in-memory classifier for tests: answers from a script, records what it was asked."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pipeline.domain.classification import Classification, TicketText

Answer = Classification | BaseException


@dataclass
class ScriptedClassifier:
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
