"""What a classifier decides about a ticket, and what each decision cost (typed results)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Urgency(StrEnum):
    """How fast a person should look at the ticket."""

    low = "low"
    normal = "normal"
    high = "high"
    critical = "critical"


class Sentiment(StrEnum):
    """How the customer feels, as the text shows it."""

    very_negative = "very_negative"
    negative = "negative"
    neutral = "neutral"
    positive = "positive"
    very_positive = "very_positive"


class TicketText(BaseModel):
    """The part of a ticket a classifier may read: never the customer's identity."""

    model_config = ConfigDict(frozen=True)

    id: str = ""
    subject: str = ""
    description: str


class Alternative(BaseModel):
    """A category the classifier weighed but did not choose, with its score."""

    model_config = ConfigDict(frozen=True)

    category: str
    score: float = Field(ge=0.0, le=1.0)


class Classification(BaseModel):
    """One classifier's decision about one ticket."""

    model_config = ConfigDict(frozen=True)

    category: str = Field(min_length=1, max_length=64)
    urgency: Urgency = Urgency.normal
    language: str = Field(default="und", pattern=r"^[a-z]{2,3}$")
    confidence: float = Field(ge=0.0, le=1.0, description="confidence in the category")
    urgency_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    sentiment: Sentiment = Sentiment.neutral
    sentiment_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    reason: str = Field(default="", max_length=500)
    classifier: str = Field(description="which classifier answered: local, gemini, ...")
    model: str = Field(description="model name and version that answered")
    # The runners-up, for reviewers (audit trail only: not stored on the ticket or returned).
    alternatives: tuple[Alternative, ...] = Field(default=(), exclude=True)


# --- what a classifier call did (for the audit trail) ------------------------------------------


@dataclass(frozen=True)
class LLMCall:
    """What one LLM classify did, for the audit trail: never ticket text, never a key."""

    provider: str
    model: str
    prompt_version: str
    cache_hit: bool
    pii_masked: tuple[str, ...]  # kinds only, e.g. ("email", "phone")
    queue: str = "live"
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    estimated_tokens: int | None = None
    cost_usd: float | None = None  # from the reported tokens and TRIAGE_LLM_PRICES; None: unknown
    error: str | None = None
    # Names of the answer's fields we had to default or cut (never their values).
    repaired: tuple[str, ...] = ()

    def as_audit(self) -> dict[str, Any]:
        """A JSON-ready dict for `audit_events.detail`; `repaired` only when something was."""
        detail = asdict(self)
        detail["pii_masked"] = list(self.pii_masked)
        if self.repaired:
            detail["repaired"] = list(self.repaired)
        else:
            del detail["repaired"]
        return detail


@dataclass(frozen=True)
class CascadeStep:
    """The cascade's local answer, and the threshold that decided whether the LLM was asked."""

    threshold: float
    local_category: str
    local_confidence: float


@dataclass(frozen=True)
class ClassifierResult:
    """One decision and what it cost: the LLM call (None: no LLM asked) and the cascade step."""

    decision: Classification
    call: LLMCall | None = None
    cascade: CascadeStep | None = None

    @property
    def answered_by(self) -> str:
        """Which classifier decided (in a cascade: the local model or the LLM)."""
        return self.decision.classifier

    def as_audit(self) -> dict[str, Any]:
        """The audit detail: the call's fields, or the cascade's with the call as `llm_call`."""
        if self.cascade is None:
            return self.call.as_audit() if self.call is not None else {}
        detail: dict[str, Any] = {
            "cascade_threshold": self.cascade.threshold,
            "local_category": self.cascade.local_category,
            "local_confidence": self.cascade.local_confidence,
        }
        if self.call is not None:
            detail["llm_call"] = self.call.as_audit()
        detail["answered_by"] = self.answered_by
        return detail


@dataclass(frozen=True)
class GroupCall:
    """What one grouped LLM request did, for the audit trail of every ticket it answered."""

    provider: str
    model: str
    prompt_version: str
    group_size: int
    answered: int
    pii_masked: tuple[str, ...]
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None  # the whole request's; each ticket's audit gets its share
    # Ticket id -> names of its answer's fields we had to default or cut (never their values).
    repaired: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def as_audit(self, ticket_id: str | None = None) -> dict[str, Any]:
        """The audit detail (never a cache hit), with `ticket_id`'s repairs if it had any."""
        repaired = self.repaired.get(ticket_id, ()) if ticket_id is not None else ()
        return {
            "provider": self.provider,
            "model": self.model,
            "prompt_version": self.prompt_version,
            "group_size": self.group_size,
            "answered": self.answered,
            "cache_hit": False,
            "latency_ms": self.latency_ms,
            "prompt_tokens": self.prompt_tokens,
            "output_tokens": self.output_tokens,
            **self._cost_share(),
            "pii_masked": list(self.pii_masked),
            **({"repaired": list(repaired)} if repaired else {}),
        }

    def _cost_share(self) -> dict[str, float | None]:
        # One ticket's share, so summing `cost_usd` over tickets gives what the requests cost.
        if self.cost_usd is None:
            return {"cost_usd": None}
        share = self.cost_usd / max(1, self.answered)
        return {"cost_usd": round(share, 8), "group_cost_usd": self.cost_usd}


@dataclass(frozen=True)
class GroupResult:
    """Decisions for a group by ticket id; a ticket left out is for the caller to ask alone."""

    decisions: dict[str, Classification]
    size: int  # tickets asked about
    call: GroupCall | None = None  # the grouped LLM request, if one was sent
    # A cascade answers some tickets locally: then the LLM's request is nested, not the detail.
    nested: bool = field(default=False, kw_only=True)

    def as_audit(self, ticket_id: str | None = None) -> dict[str, Any]:
        """`{"batched": n}` without an LLM request, else its detail (with `ticket_id`'s repairs)."""
        if self.call is None:
            return {"batched": self.size}
        if self.nested:
            return {"batched": self.size, "llm_group": self.call.as_audit(ticket_id)}
        return self.call.as_audit(ticket_id)
