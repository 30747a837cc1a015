"""Jira write-back: one `PUT /rest/api/3/issue/{key}` setting fields and adding labels.

API reference: https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-put
(`fields` sets, `update.labels: [{"add": …}]` adds without replacing; 204 No Content). Auth:
https://developer.atlassian.com/cloud/jira/platform/basic-auth-for-rest-apis/ (basic auth
`email:api_token`). Rate limits (429 with `Retry-After`):
https://developer.atlassian.com/cloud/jira/platform/rate-limiting/
"""

from __future__ import annotations

from typing import Any

from pipeline.domain.writeback import WritebackRequest
from pipeline.helpdesks.client import HelpdeskClient
from pipeline.ports import WritebackReceipt


class JiraWriter:
    """Writes the triage to a Jira (Service Management) issue."""

    name = "jira"

    def __init__(self, base_url: str, email: str, api_token: str, timeout_s: float = 10.0) -> None:
        self._client = HelpdeskClient(
            self.name,
            base_url,
            headers={"Accept": "application/json"},
            auth=(email, api_token),
            secrets=(api_token,),
            timeout_s=timeout_s,
        )

    def endpoint(self, request: WritebackRequest) -> str:
        """The issue's edit URL."""
        return f"{self._client.base_url}{_path(request)}"

    def write_back(self, request: WritebackRequest) -> WritebackReceipt:
        """PUT the issue's fields, priority and added labels."""
        return self._client.call("PUT", _path(request), issue_update(request))


def issue_update(request: WritebackRequest) -> dict[str, Any]:
    """The edit body: `fields` we set, `update` for the labels we add."""
    fields: dict[str, Any] = dict(request.fields)
    if request.priority is not None:
        fields["priority"] = {"name": request.priority}
    body: dict[str, Any] = {}
    if fields:
        body["fields"] = fields
    if request.tags:
        body["update"] = {"labels": [{"add": label} for label in request.tags]}
    return body


def _path(request: WritebackRequest) -> str:
    return f"/rest/api/3/issue/{request.ticket_ref}"
