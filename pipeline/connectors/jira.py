"""Jira Cloud (Software or Service Management): admin webhooks; `jira:issue_created` is a ticket.

Webhooks (https://developer.atlassian.com/cloud/jira/platform/webhooks/): a webhook an admin
registers with a secret is signed `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, body)>`
(WebSub); `X-Atlassian-Webhook-Identifier` identifies the delivery and stays the same on a
retry. `jira:issue_updated` and comment events are ignored. Descriptions are Atlassian
Document Format (https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/)
or, from older sites, wiki text: both come out as plain text.
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
    obj,
    parse_json_object,
    priority_of,
    submission,
    text_or_none,
    verify_hub_signature,
)
from pipeline.connectors.text import adf_to_text

NAME = "jira"
CREATED = "jira:issue_created"


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str],
    now: datetime,
    window: timedelta = REPLAY_WINDOW,
) -> None:
    """Check `X-Hub-Signature` (sha256)."""
    verify_hub_signature(headers, body, secrets, "X-Hub-Signature", "sha256")


def parse(headers: Mapping[str, str], body: bytes) -> InboundEvent:
    """A `jira:issue_created` event as a ticket; any other event is Ignored."""
    payload = parse_json_object(body)
    event = text_or_none(payload.get("webhookEvent"))
    if event is None:
        raise Unmappable("the body has no webhookEvent")
    if event != CREATED:
        return Ignored(f"jira event {event} is not a new issue")
    delivery = lower_headers(headers).get("x-atlassian-webhook-identifier")
    sender = text_or_none(dig(payload, "user", "accountId"))
    issue = payload.get("issue")
    if not isinstance(issue, dict):
        raise Unmappable("the event has no issue object")
    return _ticket(issue, delivery, sender)


def _ticket(issue: dict[str, Any], delivery: str | None, sender: str | None) -> InboundTicket:
    key = text_or_none(issue.get("key"))
    fields = obj(issue.get("fields"))
    if key is None:
        raise Unmappable("the issue has no key")
    reporter = obj(fields.get("reporter"))
    customer = (
        text_or_none(reporter.get("emailAddress"))
        or text_or_none(reporter.get("accountId"))
        or text_or_none(reporter.get("displayName"))
        or text_or_none(reporter.get("name"))
    )
    helpdesk: dict[str, Any] = {
        "connector": NAME,
        "id": key,
        "delivery_id": delivery,
        "issue_id": issue.get("id"),
        "url": issue.get("self"),
        "project": dig(fields, "project", "key"),
        "issue_type": dig(fields, "issuetype", "name"),
        "labels": fields.get("labels") or [],
    }
    mapped = submission(
        subject=text_or_none(fields.get("summary")),
        description=adf_to_text(fields.get("description")),
        customer=customer,
        priority=priority_of(dig(fields, "priority", "name")),
        external_id=key,
        created_at=fields.get("created"),
        metadata={"helpdesk": {k: v for k, v in helpdesk.items() if v is not None}},
    )
    return InboundTicket(mapped, delivery_id=delivery, sender=sender)


def from_export(record: dict[str, Any]) -> InboundEvent:
    """One row of a Jira CSV export (Issue key, Summary, Description, Reporter, Priority, ...)."""
    issue = {
        "key": record.get("Issue key"),
        "id": record.get("Issue id"),
        "fields": {
            "summary": record.get("Summary"),
            "description": record.get("Description"),
            "reporter": {"emailAddress": record.get("Reporter")},
            "priority": {"name": record.get("Priority")},
            "created": record.get("Created"),
            "project": {"key": record.get("Project key")},
            "issuetype": {"name": record.get("Issue Type")},
        },
    }
    return _ticket(issue, None, None)
