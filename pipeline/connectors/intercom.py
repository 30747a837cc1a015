"""Intercom: Developer Hub webhook topics; `conversation.user.created` is a new ticket.

Notifications (https://developers.intercom.com/docs/references/webhooks/webhook-models) are
`{"type": "notification_event", "topic", "id", "data": {"item": <conversation>}}`, signed
`X-Hub-Signature: sha1=<hex HMAC-SHA1(app client secret, body)>`
(https://developers.intercom.com/docs/webhooks/setting-up-webhooks). The first message is
`item.source` (`subject`, HTML `body`, `author`). Other topics (replies, admin actions, our
own assignment and tagging, `ping`) are ignored.
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
    obj,
    parse_json_object,
    priority_of,
    submission,
    text_or_none,
    verify_hub_signature,
)
from pipeline.connectors.text import html_to_text

NAME = "intercom"
CREATED = "conversation.user.created"
SUBJECT_CHARS = 120


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str],
    now: datetime,
    window: timedelta = REPLAY_WINDOW,
) -> None:
    """Check `X-Hub-Signature` (sha1, keyed by the app's client secret)."""
    verify_hub_signature(headers, body, secrets, "X-Hub-Signature", "sha1")


def parse(headers: Mapping[str, str], body: bytes) -> InboundEvent:
    """A `conversation.user.created` notification as a ticket; other topics are Ignored."""
    payload = parse_json_object(body)
    topic = text_or_none(payload.get("topic"))
    if topic is None:
        raise Unmappable("the notification has no topic")
    if topic != CREATED:
        return Ignored(f"intercom topic {topic} is not a new conversation")
    item = dig(payload, "data", "item")
    if not isinstance(item, dict):
        raise Unmappable("the notification has no data.item")
    conversation_id = text_or_none(item.get("id"))
    if conversation_id is None:
        raise Unmappable("the conversation has no id")
    source = obj(item.get("source"))
    author = obj(source.get("author"))
    text = html_to_text(str(source.get("body") or ""))
    subject = html_to_text(str(source.get("subject") or "")) or _first_line(text)
    customer = text_or_none(author.get("email")) or text_or_none(author.get("id"))
    helpdesk: dict[str, Any] = {
        "connector": NAME,
        "id": conversation_id,
        "delivery_id": text_or_none(payload.get("id")),
        "url": source.get("url"),
        "author_type": author.get("type"),
        "author_name": author.get("name"),
    }
    priority = priority_of("high" if item.get("priority") == "priority" else None)
    mapped = submission(
        subject=subject,
        description=text,
        customer=customer,
        priority=priority,
        external_id=conversation_id,
        created_at=item.get("created_at"),
        metadata={"helpdesk": {k: v for k, v in helpdesk.items() if v is not None}},
    )
    return InboundTicket(mapped, delivery_id=helpdesk.get("delivery_id"), sender=customer)


def _first_line(text: str) -> str:
    line = next((line for line in text.split("\n") if line.strip()), "")
    return line if len(line) <= SUBJECT_CHARS else line[: SUBJECT_CHARS - 1] + "…"
