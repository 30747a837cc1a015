"""Helpdesk webhook fixtures, and signatures computed the way each helpdesk computes them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "connectors"
SECRET = "s3cret-webhook-key"
OLD_SECRET = "older-secret-still-valid"


def fixture(name: str) -> tuple[dict[str, str], bytes]:
    """A JSON fixture's example headers and its body, serialised as the helpdesk sends it."""
    document: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return dict(document["headers"]), json.dumps(document["body"]).encode()


def email_fixture(name: str = "email_new.eml") -> bytes:
    """A raw RFC 822 message."""
    return (FIXTURES / name).read_bytes()


def zendesk_headers(
    body: bytes, secret: str = SECRET, at: datetime | None = None
) -> dict[str, str]:
    """base64(HMAC-SHA256(secret, timestamp + body)) with its timestamp."""
    stamp = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()
    return {
        "X-Zendesk-Webhook-Signature": base64.b64encode(digest).decode(),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
    }


def hub_headers(body: bytes, header: str, digest: str, secret: str = SECRET) -> dict[str, str]:
    """`<header>: <digest>=<hex HMAC>` (GitHub sha256, Jira sha256, Intercom sha1)."""
    value = hmac.new(secret.encode(), body, digest).hexdigest()
    return {header: f"{digest}={value}"}


def signed(connector: str, body: bytes, secret: str = SECRET) -> dict[str, str]:
    """The auth headers the helpdesk would send with this body."""
    if connector == "zendesk":
        return zendesk_headers(body, secret)
    if connector == "github":
        return hub_headers(body, "X-Hub-Signature-256", "sha256", secret)
    if connector == "jira":
        return hub_headers(body, "X-Hub-Signature", "sha256", secret)
    if connector == "intercom":
        return hub_headers(body, "X-Hub-Signature", "sha1", secret)
    return {"X-Triage-Webhook-Secret": secret}  # freshdesk, email


# Each connector's example: fixture file, content type.
EXAMPLES = {
    "zendesk": "zendesk_trigger.json",
    "freshdesk": "freshdesk_ticket_created.json",
    "jira": "jira_issue_created.json",
    "github": "github_issues_opened.json",
    "intercom": "intercom_conversation_user_created.json",
    "email": "email_new.eml",
}


def example(connector: str) -> tuple[dict[str, str], bytes, str]:
    """The connector's example request: headers (unsigned), body, content type."""
    if connector == "email":
        return {}, email_fixture(), "message/rfc822"
    headers, body = fixture(EXAMPLES[connector])
    return headers, body, "application/json"
