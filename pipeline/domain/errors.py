"""The error families every stage understands: transient ones retry, permanent ones never do."""

from __future__ import annotations

from typing import ClassVar


class TriageError(Exception):
    """Base of the project's own errors."""

    # False for waits of our own making (the shared LLM budget, an open circuit): the retry
    # policy reschedules them without using up a retry.
    counts_as_attempt: ClassVar[bool] = True
    # At most this many retries for this error, when fewer than the stage allows (None: the
    # stage's own limit).
    max_retries: ClassVar[int | None] = None
    # False: retry at once, with no backoff (a new sample of the model, not an outage to wait out).
    backs_off: ClassVar[bool] = True
    # Seconds the other side (or our own budget or breaker) asked us to wait, when it said.
    retry_after: float | None = None


class TransientError(TriageError):
    """Worth retrying: the same call may succeed later (timeouts, 5xx, 429, connection errors)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(TriageError):
    """Retrying cannot help (4xx, invalid answer shape, bad configuration): fail at once."""


class ConfigurationError(PermanentError):
    """The configuration (routing file, model file, settings) is invalid."""


class TicketNotFound(PermanentError):
    """No ticket has this id."""


class DeliveryRejected(PermanentError):
    """A department answered with a 4xx other than 408/429."""


class DepartmentUnavailable(TransientError):
    """A department answered 5xx/408/429, timed out, or could not be reached."""


class LLMUnavailable(TransientError):
    """The LLM provider answered 408/429/5xx or timed out."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, rate_limited: bool = False
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        # True when the provider said "too many requests" (429): an over-quota, not an outage.
        # A flag, not a subclass: the error's type name is in the audit trail and must not move.
        self.rate_limited = rate_limited


class LLMBadAnswer(LLMUnavailable):
    """The model's answer has no usable category: retried once, at once, then the fallback."""

    # Not JSON, not an object, category missing or unknown; any other bad field is repaired
    # instead (`pipeline.classifiers.salvage`). A new sample may conform, a wait will not help.

    max_retries = 1
    backs_off = False


class LLMQuotaExhausted(LLMUnavailable):
    """No retry helps before the quota resets (OpenAI `insufficient_quota`, Anthropic's spend
    limit, our own TRIAGE_LLM_MONTHLY_BUDGET): the classify stage falls down the chain at once."""

    max_retries = 0


class LLMRejected(PermanentError):
    """The LLM provider refused the request (400/401/403) or blocked the prompt."""


def describe_error(error: BaseException) -> str:
    """A short error text for the store and logs: the type and message, never a traceback."""
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:500]


class LLMBudgetExhausted(LLMUnavailable):
    """The shared budget said wait: retry after `retry_after` seconds, without using a retry."""

    counts_as_attempt = False


class CircuitOpen(DepartmentUnavailable):
    """The department's circuit is open: we wait instead of sending (not a failed attempt)."""

    counts_as_attempt = False


class PoisonMessage(PermanentError):
    """A stage kept dying mid-run (its worker killed each time): failed instead of looping."""
