"""Freshdesk write-back: one `PUT /api/v2/tickets/{id}` with group, priority and tags.

API reference: https://developers.freshdesk.com/api/#update_ticket (priority 1 low to 4 urgent;
`tags` replaces the ticket's tags). Auth: https://developers.freshdesk.com/api/#authentication
(basic auth with the API key as user and `X` as password). Rate limits (429 with
`Retry-After`): https://developers.freshdesk.com/api/#ratelimit
"""

from __future__ import annotations

from typing import Any

from pipeline.domain.writeback import WritebackRequest
from pipeline.helpdesks.client import HelpdeskClient
from pipeline.ports import WritebackReceipt


class FreshdeskWriter:
    """Writes the triage to a Freshdesk ticket."""

    name = "freshdesk"

    def __init__(self, base_url: str, api_key: str, timeout_s: float = 10.0) -> None:
        self._client = HelpdeskClient(
            self.name,
            base_url,
            headers={"Accept": "application/json"},
            auth=(api_key, "X"),
            secrets=(api_key,),
            timeout_s=timeout_s,
        )

    def endpoint(self, request: WritebackRequest) -> str:
        """The ticket's update URL."""
        return f"{self._client.base_url}{_path(request)}"

    def write_back(self, request: WritebackRequest) -> WritebackReceipt:
        """PUT the ticket's new group, priority and tags."""
        return self._client.call("PUT", _path(request), ticket_update(request))


def ticket_update(request: WritebackRequest) -> dict[str, Any]:
    """The update body: only what we set."""
    body: dict[str, Any] = {}
    if request.group_id is not None:
        body["group_id"] = request.group_id
    if request.priority is not None:
        body["priority"] = request.priority
    if request.tags:
        body["tags"] = list(request.tags)
    return body


def _path(request: WritebackRequest) -> str:
    return f"/api/v2/tickets/{request.ticket_ref}"
