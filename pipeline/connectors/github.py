"""GitHub: repository (or organisation) webhooks, `issues` events; `opened` is a new ticket.

Signature (https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries):
`X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`. `X-GitHub-Event` names the
event, `X-GitHub-Delivery` is the delivery's GUID (https://docs.github.com/en/webhooks/
webhook-events-and-payloads#issues). `ping` is answered and ignored; so is every event a bot
sent (our own write-back adds labels as a bot or app: `labeled` events are ignored anyway).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pipeline.connectors.base import (
    REPLAY_WINDOW,
    Ignored,
    InboundEvent,
    InboundTicket,
    Unmappable,
    dig,
    lower_headers,
    parse_json_object,
    priority_of,
    submission,
    text_or_none,
    verify_hub_signature,
)
from pipeline.connectors.text import tidy

NAME = "github"


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str],
    now: datetime,
    window: timedelta = REPLAY_WINDOW,
) -> None:
    """Check `X-Hub-Signature-256` (GitHub signs no timestamp: repeats are caught by id)."""
    verify_hub_signature(headers, body, secrets, "X-Hub-Signature-256", "sha256")


def parse(headers: Mapping[str, str], body: bytes) -> InboundEvent:
    """An `issues` `opened` event as a ticket; every other event is Ignored."""
    lowered = lower_headers(headers)
    event = lowered.get("x-github-event", "")
    delivery = lowered.get("x-github-delivery")
    payload = parse_json_object(body)
    if event == "ping":
        return Ignored("ping")
    if event != "issues":
        return Ignored(f"github event {event or 'unnamed'!r} is not an issue")
    action = text_or_none(payload.get("action"))
    if action != "opened":
        return Ignored(f"github issues action {action!r} is not a new issue")
    sender_type = text_or_none(dig(payload, "sender", "type"))
    sender = text_or_none(dig(payload, "sender", "login"))
    if sender_type == "Bot":
        return Ignored(f"sent by the bot {sender}")
    issue = payload.get("issue")
    if not isinstance(issue, dict):
        raise Unmappable("the event has no issue object")
    repository = text_or_none(dig(payload, "repository", "full_name"))
    number = text_or_none(issue.get("number"))
    if repository is None or number is None:
        raise Unmappable("the event names no repository full_name or issue number")
    raw_labels = issue.get("labels")
    labels = [
        str(label.get("name"))
        for label in (raw_labels if isinstance(raw_labels, list) else [])
        if isinstance(label, dict) and label.get("name")
    ]
    external_id = f"{repository}#{number}"
    helpdesk: dict[str, Any] = {
        "connector": NAME,
        "id": external_id,
        "delivery_id": delivery,
        "repository": repository,
        "number": issue.get("number"),
        "issue_id": issue.get("id"),
        "url": issue.get("html_url"),
        "labels": labels,
    }
    mapped = submission(
        subject=text_or_none(issue.get("title")),
        description=tidy(str(issue.get("body") or "")),
        customer=text_or_none(dig(issue, "user", "login")) or sender,
        priority=_priority(labels),
        external_id=external_id,
        created_at=issue.get("created_at"),
        metadata={"helpdesk": helpdesk},
    )
    return InboundTicket(mapped, delivery_id=delivery, sender=sender)


def _priority(labels: list[str]) -> Any:
    """A `priority: high` / `urgent` / `P0` style label, else normal."""
    by_p = {"p0": "urgent", "p1": "high", "p2": "normal", "p3": "low"}
    for label in labels:
        word = label.lower().removeprefix("priority").strip(" :/-_")
        word = by_p.get(word, word)
        if word in ("urgent", "high", "low", "critical"):
            return priority_of(word)
    return priority_of(None)


def from_export(record: dict[str, Any]) -> InboundEvent:
    """One issue of GitHub's REST issues list (`GET /repos/{owner}/{repo}/issues`)."""
    if "pull_request" in record:
        return Ignored("a pull request, not an issue")
    url = text_or_none(record.get("repository_url")) or ""
    repository = "/".join(url.rstrip("/").split("/")[-2:]) if url else None
    payload = {
        "action": "opened",
        "issue": record,
        "repository": {"full_name": repository},
        "sender": record.get("user") or {},
    }
    import json

    return parse({"X-GitHub-Event": "issues"}, json.dumps(payload).encode())
