"""Reading a Zendesk ticket by id, for webhook events that carried only the id.

`GET /api/v2/tickets/{id}.json` with basic auth `{email}/token:{api_token}`
(https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#show-ticket;
auth: https://developer.zendesk.com/api-reference/introduction/security-and-auth/).
429 and 5xx are transient (Zendesk's `Retry-After` is honoured by the stage's retry); 401,
403 and 404 fail at once.
"""

from __future__ import annotations

from typing import Any

import httpx

from pipeline.domain.errors import PermanentError, TransientError
from pipeline.ports import FetchedTicket

# Zendesk priorities are ours already (low, normal, high, urgent); null means not set.
_PRIORITIES = {"low", "normal", "high", "urgent"}


class TicketFetchFailed(TransientError):
    """Zendesk could not answer now (429, 5xx, timeout): retry the stage."""


class TicketFetchRefused(PermanentError):
    """Zendesk refused (bad credentials, no such ticket): fail the ticket."""


class ZendeskTicketFetcher:
    """`TicketFetcher` for Zendesk Support."""

    def __init__(self, base_url: str, email: str, api_token: str, timeout_s: float = 10.0) -> None:
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            auth=(f"{email}/token", api_token),
            headers={"Accept": "application/json", "User-Agent": "ticket-triage"},
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            follow_redirects=False,
        )

    def fetch(self, connector: str, external_id: str) -> FetchedTicket:
        """The ticket's subject, description, requester and priority."""
        if connector != "zendesk" or not external_id.isdigit():
            raise TicketFetchRefused(f"cannot fetch {connector} ticket {external_id!r}")
        try:
            response = self._client.get(f"/api/v2/tickets/{external_id}.json")
        except httpx.HTTPError as exc:
            raise TicketFetchFailed(f"zendesk unreachable: {type(exc).__name__}") from None
        if response.status_code == 429 or response.status_code >= 500:
            wait = _retry_after(response)
            raise TicketFetchFailed(f"zendesk answered {response.status_code}", retry_after=wait)
        if response.status_code != 200:
            raise TicketFetchRefused(f"zendesk answered {response.status_code} for the ticket")
        try:
            ticket = response.json()["ticket"]
        except (ValueError, KeyError, TypeError):
            raise TicketFetchRefused("zendesk's answer has no ticket object") from None
        return _fetched(ticket)

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()


def _fetched(ticket: dict[str, Any]) -> FetchedTicket:
    subject = str(ticket.get("subject") or ticket.get("raw_subject") or "").strip()
    description = str(ticket.get("description") or "").strip() or subject
    requester = ticket.get("requester_id")
    if not subject or requester is None:
        raise TicketFetchRefused("the zendesk ticket has no subject or requester")
    priority = ticket.get("priority")
    kept = {
        key: ticket[key]
        for key in ("status", "tags", "group_id", "via", "url", "type")
        if ticket.get(key) not in (None, "", [])
    }
    return FetchedTicket(
        subject=subject[:1000],
        description=description[:100_000],
        customer_id=str(requester),
        priority=priority if priority in _PRIORITIES else None,
        extra=kept,
    )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
