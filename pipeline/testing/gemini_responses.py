"""What the stub Gemini API receives and answers: recorded requests, answer bodies.

The bodies follow the Gemini API reference: a generateContent response
(https://ai.google.dev/api/generate-content#v1beta.GenerateContentResponse, with its
`usageMetadata`), and Google's error model (https://cloud.google.com/apis/design/errors) with a
`google.rpc.RetryInfo` detail (its `retryDelay`) where the API asks to retry later.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
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
    sentiment: str = "negative",
) -> str:
    """The text a well-behaved model answers."""
    return json.dumps(
        {
            "category": category,
            "urgency": urgency,
            "language": language,
            "confidence": confidence,
            "urgency_confidence": 0.8,
            "sentiment": sentiment,
            "sentiment_confidence": 0.75,
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
            "urgency_confidence": 0.8,
            "sentiment": "neutral",
            "sentiment_confidence": 0.7,
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
