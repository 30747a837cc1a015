"""Zendesk write-back: one `PUT /api/v2/tickets/{id}.json` with group, tags, priority, fields.

API reference: https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#update-ticket
(`additional_tags` adds to the ticket's tags, where `tags` would replace them; custom fields are
`[{"id", "value"}]`). Auth: https://developer.zendesk.com/api-reference/introduction/security-and-auth/
(basic auth `{email}/token:{api_token}`). Rate limits (429 with `Retry-After`):
https://developer.zendesk.com/api-reference/introduction/rate-limits/
"""

from __future__ import annotations

from typing import Any

from pipeline.domain.writeback import WritebackRequest
from pipeline.helpdesks.client import HelpdeskClient
from pipeline.ports import WritebackReceipt


class ZendeskWriter:
    """Writes the triage to a Zendesk ticket."""

    name = "zendesk"

    def __init__(self, base_url: str, email: str, api_token: str, timeout_s: float = 10.0) -> None:
        self._client = HelpdeskClient(
            self.name,
            base_url,
            headers={"Accept": "application/json"},
            auth=(f"{email}/token", api_token),
            secrets=(api_token,),
            timeout_s=timeout_s,
        )

    def endpoint(self, request: WritebackRequest) -> str:
        """The ticket's update URL."""
        return f"{self._client.base_url}{_path(request)}"

    def write_back(self, request: WritebackRequest) -> WritebackReceipt:
        """PUT the ticket's new group, tags, priority and custom fields."""
        return self._client.call("PUT", _path(request), {"ticket": ticket_update(request)})


def ticket_update(request: WritebackRequest) -> dict[str, Any]:
    """The `ticket` object of the update: only what we set."""
    ticket: dict[str, Any] = {}
    if request.group_id is not None:
        ticket["group_id"] = request.group_id
    if request.tags:
        ticket["additional_tags"] = list(request.tags)
    if request.priority is not None:
        ticket["priority"] = request.priority
    if request.fields:
        ticket["custom_fields"] = [{"id": int(k), "value": v} for k, v in request.fields.items()]
    return ticket


def _path(request: WritebackRequest) -> str:
    return f"/api/v2/tickets/{request.ticket_ref}.json"
