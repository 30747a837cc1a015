"""The project's own labelled sample tickets (package data), split into train and held-out."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from typing import Any

from pydantic import BaseModel

SAMPLE_FILE = "sample_tickets.jsonl"
HOLDOUT_PERCENT = 20


class SampleTicket(BaseModel):
    """One labelled sample ticket as shipped in `pipeline/data/sample_tickets.jsonl`."""

    external_id: str
    subject: str
    description: str
    customer_id: str
    priority: str
    created_at: str
    category: str
    urgency: str
    language: str

    def as_ingest_payload(self) -> dict[str, Any]:
        """The body a producer would POST for this ticket (labels left out)."""
        return {
            "external_id": self.external_id,
            "subject": self.subject,
            "description": self.description,
            "customer_id": self.customer_id,
            "priority": self.priority,
            "created_at": self.created_at,
        }


def load_sample_tickets() -> list[SampleTicket]:
    """All bundled sample tickets, in file order."""
    text = resources.files("pipeline.data").joinpath(SAMPLE_FILE).read_text(encoding="utf-8")
    return [SampleTicket.model_validate(json.loads(line)) for line in text.splitlines() if line]


def is_holdout(external_id: str) -> bool:
    """Whether a sample is held back from training (stable: a hash of its id)."""
    digest = hashlib.sha256(external_id.encode()).digest()
    return digest[0] * 100 // 256 < HOLDOUT_PERCENT


def training_samples() -> list[SampleTicket]:
    """Samples the default local model learns from."""
    return [t for t in load_sample_tickets() if not is_holdout(t.external_id)]
