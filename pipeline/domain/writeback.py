"""Helpdesk write-back: the routing file's per-department targets, its `[writeback]` mapping,
and the pure plan of what to write back to the ticket a helpdesk sent us.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.domain.classification import Classification, Sentiment, Urgency
from pipeline.domain.errors import DeliveryRejected, DepartmentUnavailable
from pipeline.domain.models import TicketRecord

# The helpdesks we can write back to (a ticket's `connector`; "email" has no write-back).
HELPDESKS = ("zendesk", "freshdesk", "jira", "github", "intercom")
# What a helpdesk answered, as kept in the trail and `deliveries.response_body`.
MAX_RESPONSE_BODY = 2000

_Tag = Field(min_length=1, max_length=100, pattern=r"^\S+$")


class _Target(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ZendeskTarget(_Target):
    """`zendesk = { group_id, tags, custom_fields }`: custom field id → value."""

    group_id: int | None = Field(default=None, gt=0)
    tags: list[str] = Field(default_factory=list)
    custom_fields: dict[str, Any] = Field(default_factory=dict)

    @field_validator("custom_fields")
    @classmethod
    def _numeric_ids(cls, value: dict[str, Any]) -> dict[str, Any]:
        bad = [key for key in value if not key.isdigit()]
        if bad:
            raise ValueError(f"custom field ids must be numbers, got {', '.join(bad)}")
        return value


class FreshdeskTarget(_Target):
    """`freshdesk = { group_id, tags }`."""

    group_id: int | None = Field(default=None, gt=0)
    tags: list[str] = Field(default_factory=list)


class JiraTarget(_Target):
    """`jira = { labels, fields }`: fields set as given (e.g. customfield_10010)."""

    labels: list[str] = Field(default_factory=list)
    fields: dict[str, Any] = Field(default_factory=dict)


class GitHubTarget(_Target):
    """`github = { labels, assignees }`."""

    labels: list[str] = Field(default_factory=list)
    assignees: list[str] = Field(default_factory=list)


class IntercomTarget(_Target):
    """`intercom = { team_id, tag }`: the team to assign, the tag's id to attach."""

    team_id: str | None = Field(default=None, min_length=1)
    tag: str | None = Field(default=None, min_length=1)


HelpdeskTarget = ZendeskTarget | FreshdeskTarget | JiraTarget | GitHubTarget | IntercomTarget


class _Mapping(BaseModel):
    """Our values → the helpdesk's: urgency → priority; category and sentiment → extra tags."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    categories: dict[str, str] = Field(default_factory=dict)
    sentiments: dict[Sentiment, str] = Field(default_factory=dict)


class ZendeskMapping(_Mapping):
    """`[writeback.zendesk]`: priority low/normal/high/urgent; the review target."""

    priorities: dict[Urgency, str] = Field(
        default_factory=lambda: {
            Urgency.low: "low",
            Urgency.normal: "normal",
            Urgency.high: "high",
            Urgency.critical: "urgent",
        }
    )
    review: ZendeskTarget | None = None

    @field_validator("priorities")
    @classmethod
    def _known(cls, value: dict[Urgency, str]) -> dict[Urgency, str]:
        bad = sorted(set(value.values()) - {"low", "normal", "high", "urgent"})
        if bad:
            raise ValueError(f"Zendesk priorities are low, normal, high, urgent; not {bad}")
        return value


class FreshdeskMapping(_Mapping):
    """`[writeback.freshdesk]`: priority 1 low, 2 medium, 3 high, 4 urgent."""

    priorities: dict[Urgency, int] = Field(
        default_factory=lambda: {
            Urgency.low: 1,
            Urgency.normal: 2,
            Urgency.high: 3,
            Urgency.critical: 4,
        }
    )
    review: FreshdeskTarget | None = None

    @field_validator("priorities")
    @classmethod
    def _known(cls, value: dict[Urgency, int]) -> dict[Urgency, int]:
        if any(not 1 <= number <= 4 for number in value.values()):
            raise ValueError("Freshdesk priorities are 1 (low) to 4 (urgent)")
        return value


class JiraMapping(_Mapping):
    """`[writeback.jira]`: the priority's name in the Jira site's scheme."""

    priorities: dict[Urgency, str] = Field(
        default_factory=lambda: {
            Urgency.low: "Low",
            Urgency.normal: "Medium",
            Urgency.high: "High",
            Urgency.critical: "Highest",
        }
    )
    review: JiraTarget | None = None


class GitHubMapping(_Mapping):
    """`[writeback.github]`: urgency → a label (GitHub issues have no priority field)."""

    priorities: dict[Urgency, str] = Field(default_factory=dict)
    review: GitHubTarget | None = None


class IntercomMapping(_Mapping):
    """`[writeback.intercom]`: the admin our writes act as (Intercom requires one)."""

    admin_id: str | None = Field(default=None, min_length=1)
    review: IntercomTarget | None = None


class WritebackTable(BaseModel):
    """The routing file's `[writeback]` table: one mapping per helpdesk."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zendesk: ZendeskMapping = Field(default_factory=ZendeskMapping)
    freshdesk: FreshdeskMapping = Field(default_factory=FreshdeskMapping)
    jira: JiraMapping = Field(default_factory=JiraMapping)
    github: GitHubMapping = Field(default_factory=GitHubMapping)
    intercom: IntercomMapping = Field(default_factory=IntercomMapping)


@dataclass(frozen=True)
class WritebackRequest:
    """What to write back to one helpdesk ticket: resolved values, no HTTP shape yet."""

    helpdesk: str
    ticket_ref: str  # Zendesk/Freshdesk id, Jira key, `owner/repo#number`, conversation id
    needs_review: bool
    group_id: int | str | None = None  # Zendesk/Freshdesk group, Intercom team
    tags: tuple[str, ...] = ()  # tags or labels, always added to what the ticket has
    assignees: tuple[str, ...] = ()
    priority: str | int | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)  # Zendesk custom / Jira fields
    admin_id: str | None = None


class HelpdeskRejected(DeliveryRejected):
    """The helpdesk refused the write (401/403/404/422...): fail at once, keep its answer."""

    def __init__(self, message: str, *, status: int, body: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class HelpdeskUnavailable(DepartmentUnavailable):
    """The helpdesk answered 429/5xx or could not be reached: retry, honouring its wait."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        body: str | None = None,
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.status = status
        self.body = body


_GITHUB_REF = re.compile(r"^[\w.-]+/[\w.-]+#\d+$")


def ticket_ref(helpdesk: str, ticket: TicketRecord) -> str | None:
    """The helpdesk's id of the ticket, or None when it did not give us one."""
    external = ticket.external_id
    if helpdesk != "github":
        return external or None
    if external and _GITHUB_REF.match(external):
        return external
    repository = ticket.extra.get("github_repository")
    number = external.rsplit("#", 1)[-1] if external else None
    if isinstance(repository, str) and number and number.isdigit():
        return f"{repository}#{number}"
    return None


def plan_writeback(
    helpdesk: str,
    target: HelpdeskTarget,
    table: WritebackTable,
    ticket: TicketRecord,
    classification: Classification,
    *,
    needs_review: bool,
) -> WritebackRequest | None:
    """The write-back for a ticket from `helpdesk` routed to a department with `target`."""
    ref = ticket_ref(helpdesk, ticket)
    if ref is None:
        return None
    mapping: _Mapping = getattr(table, helpdesk)
    review = getattr(mapping, "review", None)
    chosen: Any = review if needs_review and review is not None else target
    extra_tags = [
        mapping.categories.get(classification.category),
        mapping.sentiments.get(classification.sentiment),
    ]
    priorities: Mapping[Urgency, str | int] = getattr(mapping, "priorities", {})
    priority = priorities.get(classification.urgency)
    if helpdesk == "github":
        extra_tags.append(priority if isinstance(priority, str) else None)
        priority = None
    own = list(getattr(chosen, "tags", None) or getattr(chosen, "labels", None) or [])
    if helpdesk == "intercom" and chosen.tag:
        own = [chosen.tag]
    tags = tuple(dict.fromkeys([*own, *(tag for tag in extra_tags if tag)]))
    return WritebackRequest(
        helpdesk=helpdesk,
        ticket_ref=ref,
        needs_review=needs_review,
        group_id=getattr(chosen, "group_id", None) or getattr(chosen, "team_id", None),
        tags=tags,
        assignees=tuple(getattr(chosen, "assignees", ())),
        priority=priority,
        fields=dict(
            getattr(chosen, "custom_fields", None) or getattr(chosen, "fields", None) or {}
        ),
        admin_id=getattr(mapping, "admin_id", None),
    )


def bounded_body(text: str, secrets: tuple[str, ...] = ()) -> str:
    """A helpdesk's answer, cut to size, with any of our secrets it echoed masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text[:MAX_RESPONSE_BODY]
