"""Helpdesk connectors, inbound: each verifies its helpdesk's webhook and maps it to a ticket.

Pure mapping (no web framework): `CONNECTORS[name].verify(headers, body, secrets, now)` raises
a SignatureError; `.parse(headers, body)` returns an InboundTicket or Ignored, or raises
MalformedPayload / Unmappable. The webhook route (ingest_api/webhooks.py) stores the ticket.
"""

from __future__ import annotations

from pipeline.connectors import email, freshdesk, github, intercom, jira, zendesk
from pipeline.connectors.base import (
    Connector,
    ConnectorError,
    Ignored,
    InboundEvent,
    InboundTicket,
    MalformedPayload,
    NoSecret,
    SignatureError,
    SignatureExpired,
    SignatureMismatch,
    SignatureMissing,
    Unmappable,
)

CONNECTORS: dict[str, Connector] = {
    module.NAME: Connector(
        name=module.NAME,
        verify=module.verify,
        parse=module.parse,
        content_types=("message/rfc822",) if module is email else ("application/json",),
        docs=(module.__doc__ or "").strip().split("\n")[0],
    )
    for module in (zendesk, freshdesk, jira, github, intercom, email)
}

__all__ = [
    "CONNECTORS",
    "Connector",
    "ConnectorError",
    "Ignored",
    "InboundEvent",
    "InboundTicket",
    "MalformedPayload",
    "NoSecret",
    "SignatureError",
    "SignatureExpired",
    "SignatureMismatch",
    "SignatureMissing",
    "Unmappable",
]
