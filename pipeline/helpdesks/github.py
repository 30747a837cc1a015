"""GitHub write-back: add labels, then assignees, to the issue (`owner/repo#number`).

API reference: https://docs.github.com/en/rest/issues/labels#add-labels-to-an-issue
(`POST /repos/{owner}/{repo}/issues/{n}/labels` `{"labels": [...]}`, 200) and
https://docs.github.com/en/rest/issues/assignees#add-assignees-to-an-issue
(`POST …/assignees` `{"assignees": [...]}`, 201); headers `Authorization: Bearer`,
`Accept: application/vnd.github+json`, `X-GitHub-Api-Version: 2022-11-28`. Rate limits (403 or
429, `retry-after`, or `x-ratelimit-remaining: 0` with `x-ratelimit-reset`):
https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
"""

from __future__ import annotations

from pipeline.domain.writeback import WritebackRequest
from pipeline.helpdesks.client import HelpdeskClient
from pipeline.ports import WritebackReceipt

API_VERSION = "2022-11-28"


class GitHubWriter:
    """Writes the triage to a GitHub issue as labels and assignees."""

    name = "github"

    def __init__(self, api_url: str, token: str, timeout_s: float = 10.0) -> None:
        self._client = HelpdeskClient(
            self.name,
            api_url,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
            },
            secrets=(token,),
            timeout_s=timeout_s,
        )

    def endpoint(self, request: WritebackRequest) -> str:
        """The issue's API URL."""
        return f"{self._client.base_url}{issue_path(request.ticket_ref)}"

    def write_back(self, request: WritebackRequest) -> WritebackReceipt:
        """Add the labels, then the assignees (both additive, so a retry repeats safely)."""
        path = issue_path(request.ticket_ref)
        receipt = WritebackReceipt(204, 0.0)
        if request.tags:
            receipt = self._client.call("POST", f"{path}/labels", {"labels": list(request.tags)})
        if request.assignees:
            receipt = self._client.call(
                "POST", f"{path}/assignees", {"assignees": list(request.assignees)}
            )
        return receipt


def issue_path(ref: str) -> str:
    """`owner/repo#12` → `/repos/owner/repo/issues/12`."""
    repository, number = ref.rsplit("#", 1)
    return f"/repos/{repository}/issues/{number}"
