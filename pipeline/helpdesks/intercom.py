"""Intercom write-back: assign the conversation to a team, then attach tags.

API reference: https://developers.intercom.com/docs/references/2.11/rest-api/api.intercom.io/conversations/manageconversation
(`POST /conversations/{id}/parts` `{"message_type": "assignment", "type": "team", "admin_id",
"assignee_id"}`) and https://developers.intercom.com/docs/references/2.11/rest-api/api.intercom.io/tags/attachtagtoconversation
(`POST /conversations/{id}/tags` `{"id": tag id, "admin_id"}`); headers `Authorization: Bearer`,
`Intercom-Version`. Rate limits (429, `X-RateLimit-Reset`):
https://developers.intercom.com/docs/references/rest-api/errors/rate-limiting
"""

from __future__ import annotations

from pipeline.domain.errors import ConfigurationError
from pipeline.domain.writeback import WritebackRequest
from pipeline.helpdesks.client import HelpdeskClient
from pipeline.ports import WritebackReceipt

API_VERSION = "2.11"


class IntercomWriter:
    """Writes the triage to an Intercom conversation: team assignment and tags."""

    name = "intercom"

    def __init__(self, base_url: str, token: str, timeout_s: float = 10.0) -> None:
        self._client = HelpdeskClient(
            self.name,
            base_url,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "Intercom-Version": API_VERSION,
            },
            secrets=(token,),
            timeout_s=timeout_s,
        )

    def endpoint(self, request: WritebackRequest) -> str:
        """The conversation's API URL."""
        return f"{self._client.base_url}/conversations/{request.ticket_ref}"

    def write_back(self, request: WritebackRequest) -> WritebackReceipt:
        """Assign to the team, then attach each tag (a retry repeats both safely)."""
        if request.admin_id is None:
            raise ConfigurationError("writeback.intercom.admin_id is not set")
        path = f"/conversations/{request.ticket_ref}"
        receipt = WritebackReceipt(204, 0.0)
        if request.group_id is not None:
            assignment = {
                "message_type": "assignment",
                "type": "team",
                "admin_id": request.admin_id,
                "assignee_id": str(request.group_id),
            }
            receipt = self._client.call("POST", f"{path}/parts", assignment)
        for tag in request.tags:
            receipt = self._client.call(
                "POST", f"{path}/tags", {"id": tag, "admin_id": request.admin_id}
            )
        return receipt
