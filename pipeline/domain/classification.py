"""What a classifier decides about a ticket, and the Protocol every classifier implements."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Urgency(StrEnum):
    """How fast a person should look at the ticket."""

    low = "low"
    normal = "normal"
    high = "high"
    critical = "critical"


class TicketText(BaseModel):
    """The part of a ticket a classifier may read: never the customer's identity."""

    model_config = ConfigDict(frozen=True)

    id: str = ""
    subject: str = ""
    description: str


class Classification(BaseModel):
    """One classifier's decision about one ticket."""

    model_config = ConfigDict(frozen=True)

    category: str = Field(min_length=1, max_length=64)
    urgency: Urgency = Urgency.normal
    language: str = Field(default="und", pattern=r"^[a-z]{2,3}$")
    confidence: float = Field(ge=0.0, le=1.0)
    reason: str = Field(default="", max_length=500)
    classifier: str = Field(description="which classifier answered: local, gemini, ...")
    model: str = Field(description="model name and version that answered")
