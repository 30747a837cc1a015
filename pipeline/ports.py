"""Every port of the pipeline: the interfaces stages and operations use, each with a real
adapter (SQL, Redis, HTTP, an SDK) and an in-memory one for tests and the embedded demo.

Wiring (`pipeline.wiring`) picks the implementations; nothing else names an adapter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pipeline.domain.classification import Classification, TicketText

# --- classification ------------------------------------------------------------------------


@runtime_checkable
class Classifier(Protocol):
    """Decides category, urgency, language and confidence for tickets."""

    name: str
    model_version: str

    def classify(self, ticket: TicketText) -> Classification:
        """Classify one ticket."""
        ...

    def classify_many(self, tickets: Sequence[TicketText]) -> list[Classification]:
        """Classify several tickets at once, in the same order."""
        ...


class DecisionCache(Protocol):
    """Decisions by key; a miss, an expired entry or a broken store all read as None."""

    def get(self, key: str) -> Classification | None:
        """The cached decision, if any."""
        ...

    def put(self, key: str, decision: Classification) -> None:
        """Remember a decision for the cache's time to live."""
        ...


class LLMBudget(Protocol):
    """A budget shared by every process; never blocks."""

    def try_acquire(self, tokens: int, *, queue: str = "live") -> float:
        """0.0 when one request of `tokens` estimated tokens is granted, else seconds to wait."""
        ...

    def record_tokens(self, actual: int, *, estimated: int, queue: str = "live") -> None:
        """Charge the tokens a granted call used beyond its estimate (best effort)."""
        ...


# --- delivery ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryReceipt:
    """What the department answered to a successful delivery."""

    status_code: int
    latency_ms: float


class DepartmentClient(Protocol):
    """Sends one ticket body to one department endpoint."""

    def deliver(self, endpoint: str, body: bytes, headers: dict[str, str]) -> DeliveryReceipt:
        """POST the body; raise DepartmentUnavailable (retry) or DeliveryRejected (do not)."""
        ...


class CircuitBreaker(Protocol):
    """Tracks consecutive failures per department; opens after a threshold for a cool-down."""

    def check(self, department: str) -> None:
        """Raise CircuitOpen if the department's circuit is open."""
        ...

    def record_success(self, department: str) -> None:
        """Close the circuit."""
        ...

    def record_failure(self, department: str) -> None:
        """Count a failure; open the circuit at the threshold."""
        ...

    def open_circuits(self) -> dict[str, float]:
        """Departments whose circuit is open, with seconds until it closes."""
        ...


# --- worker safety -------------------------------------------------------------------------


class StageRunCounter(Protocol):
    """Counts unfinished runs of (ticket, stage); a run that ends in any way clears it."""

    def started(self, ticket_id: str, stage: str) -> int:
        """Count one more start and return how many runs have started without finishing."""
        ...

    def finished(self, ticket_id: str, stage: str) -> None:
        """The run ended (success, retry scheduled, or failure recorded)."""
        ...


# --- the ticket store ----------------------------------------------------------------------
# TicketRepository: declared with the store's named operations (pipeline/store/).
