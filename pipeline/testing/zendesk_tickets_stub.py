"""A stub of Zendesk's Show Ticket endpoint, for the id-only webhook fetch.

Checks what Zendesk's API reference gives: `GET /api/v2/tickets/{id}.json`
(https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#show-ticket) with
basic auth `{email}/token:{api_token}`
(https://developer.zendesk.com/api-reference/introduction/security-and-auth/); answers
`{"ticket": {...}}`, 401 `{"error": "Couldn't authenticate you"}`, 404
`{"error": "RecordNotFound", "description": "Not found"}`, and scripted answers first
(e.g. 429 with Retry-After).
"""

from __future__ import annotations

import base64
import re
from typing import Any

from pipeline.testing.gemini_responses import RecordedRequest, StubResponse
from pipeline.testing.stub_server import StubServer

_SHOW = re.compile(r"^/api/v2/tickets/(\d+)\.json$")


class ZendeskTicketsStub(StubServer):
    """Zendesk tickets by id; `tickets[id]` is what Show Ticket returns."""

    name = "zendesk-tickets-stub"

    def __init__(self, email: str = "agent@example.com", token: str = "zd-token") -> None:
        super().__init__()
        credentials = base64.b64encode(f"{email}/token:{token}".encode()).decode()
        self.authorization = f"Basic {credentials}"
        self.tickets: dict[str, dict[str, Any]] = {}

    def _answer(self, request: RecordedRequest) -> StubResponse:
        self._record(request)
        if request.headers.get("authorization") != self.authorization:
            return StubResponse(401, {"error": "Couldn't authenticate you"})
        matched = _SHOW.match(request.path)
        if request.method != "GET" or matched is None:
            return StubResponse(404, {"error": "InvalidEndpoint", "description": "Not found"})
        scripted = self._next_scripted()
        if scripted is not None:
            return scripted
        ticket = self.tickets.get(matched[1])
        if ticket is None:
            return StubResponse(404, {"error": "RecordNotFound", "description": "Not found"})
        return StubResponse(200, {"ticket": {"id": int(matched[1]), **ticket}})
