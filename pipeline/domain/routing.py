"""Routing rules: categories (with descriptions) map to departments with optional endpoints."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, model_validator

from pipeline.domain.classification import Classification
from pipeline.domain.errors import ConfigurationError, PermanentError
from pipeline.domain.models import TicketRecord
from pipeline.domain.routing_rules import RoutingRule, first_matching_rule
from pipeline.domain.writeback import (
    HELPDESKS,
    FreshdeskTarget,
    GitHubTarget,
    HelpdeskTarget,
    IntercomTarget,
    JiraTarget,
    WritebackTable,
    ZendeskTarget,
)

DEFAULT_ROUTING_FILE = "routing.default.toml"


class CategoryRule(BaseModel):
    """A category the classifier may choose, and the department that handles it."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1)
    department: str = Field(min_length=1)


class Department(BaseModel):
    """A team that receives tickets; without an endpoint the routing is only recorded."""

    model_config = ConfigDict(extra="forbid")

    endpoint: HttpUrl | None = None
    description: str = ""
    # Write-back to the helpdesk a ticket came from (pipeline.domain.writeback).
    zendesk: ZendeskTarget | None = None
    freshdesk: FreshdeskTarget | None = None
    jira: JiraTarget | None = None
    github: GitHubTarget | None = None
    intercom: IntercomTarget | None = None

    def helpdesk_target(self, helpdesk: str | None) -> HelpdeskTarget | None:
        """This department's write-back target for a ticket from `helpdesk`, if any."""
        if helpdesk not in HELPDESKS:
            return None
        target: HelpdeskTarget | None = getattr(self, helpdesk)
        return target


class RoutingTable(BaseModel):
    """The whole routing file, validated."""

    model_config = ConfigDict(extra="forbid")

    review_department: str = "review"
    categories: dict[str, CategoryRule]
    departments: dict[str, Department]
    # Tried in order before the category map (pipeline.domain.routing_rules).
    rules: list[RoutingRule] = Field(default_factory=list)
    writeback: WritebackTable = Field(default_factory=WritebackTable)

    @model_validator(mode="after")
    def _every_department_declared(self) -> RoutingTable:
        named = {rule.department for rule in self.categories.values()} | {self.review_department}
        named |= {rule.department for rule in self.rules}
        missing = sorted(named - set(self.departments))
        if missing:
            raise ValueError(f"departments used but not declared: {', '.join(missing)}")
        if not self.categories:
            raise ValueError("at least one category is required")
        self._check_writeback()
        for index, rule in enumerate(self.rules):
            unknown = sorted(set(rule.when.category) - set(self.categories))
            if unknown:
                raise ValueError(
                    f"{rule.label(index)}: unknown categories in `when`: {', '.join(unknown)}"
                )
        return self

    def _check_writeback(self) -> None:
        for helpdesk in HELPDESKS:
            mapped = getattr(self.writeback, helpdesk).categories
            unknown = sorted(set(mapped) - set(self.categories))
            if unknown:
                raise ValueError(
                    f"writeback.{helpdesk}.categories: unknown categories: {', '.join(unknown)}"
                )
        users = [name for name, d in self.departments.items() if d.intercom is not None]
        if (users or self.writeback.intercom.review) and self.writeback.intercom.admin_id is None:
            raise ValueError(
                "writeback.intercom.admin_id is required: Intercom assigns and tags as an admin "
                f"(departments with intercom: {', '.join(users) or 'none'})"
            )

    def helpdesks(self) -> set[str]:
        """The helpdesks some department (or a review target) writes back to."""
        named = {h for d in self.departments.values() for h in HELPDESKS if getattr(d, h)}
        return named | {h for h in HELPDESKS if getattr(self.writeback, h).review is not None}

    def category_descriptions(self) -> dict[str, str]:
        """Category name → description, for prompts."""
        return {name: rule.description for name, rule in self.categories.items()}


class RoutingDecision(BaseModel):
    """Where a classified ticket goes, and why."""

    model_config = ConfigDict(frozen=True)

    department: str
    endpoint: str | None
    needs_review: bool
    reason: str
    rule: str | None = None  # the routing rule that matched, if one did


def choose_department(
    classification: Classification,
    table: RoutingTable,
    confidence_threshold: float,
    *,
    source: str | None = None,
) -> RoutingDecision:
    """Pick the department: a matching rule first, else the category's route; review if unsure."""
    trusted = classification.confidence >= confidence_threshold
    matched = first_matching_rule(table.rules, classification, source, category_trusted=trusted)
    if matched is not None:
        index, routing_rule = matched
        label = routing_rule.label(index)
        target = table.departments[routing_rule.department]
        return RoutingDecision(
            department=routing_rule.department,
            endpoint=str(target.endpoint) if target.endpoint else None,
            needs_review=routing_rule.department == table.review_department,
            reason=f"{label} ({routing_rule.when.described()}) routes to "
            f"{routing_rule.department!r}",
            rule=label,
        )
    rule = table.categories.get(classification.category)
    if rule is None:
        return send_to_review(table, f"category {classification.category!r} has no route")
    if classification.confidence < confidence_threshold:
        return send_to_review(
            table,
            f"confidence {classification.confidence:.2f} below threshold "
            f"{confidence_threshold:.2f}",
        )
    department = table.departments[rule.department]
    return RoutingDecision(
        department=rule.department,
        endpoint=str(department.endpoint) if department.endpoint else None,
        needs_review=False,
        reason=f"category {classification.category!r} routes to {rule.department!r}",
    )


def send_to_review(table: RoutingTable, reason: str) -> RoutingDecision:
    """The review department's routing, for a decision a person must check."""
    review = table.departments[table.review_department]
    return RoutingDecision(
        department=table.review_department,
        endpoint=str(review.endpoint) if review.endpoint else None,
        needs_review=True,
        reason=reason,
    )


def route_classified(
    ticket: TicketRecord,
    table: RoutingTable,
    confidence_threshold: float,
    classification: Classification | None = None,
) -> RoutingDecision:
    """Where a classified ticket goes: its decision routed, and to review if it was flagged.

    `classification`: the decision just recorded, when `ticket` was read before it.
    """
    decided = classification or ticket.classification()
    if decided is None:
        raise PermanentError(f"ticket {ticket.id} is classified but has no decision recorded")
    decision = choose_department(decided, table, confidence_threshold, source=ticket.source)
    if ticket.review_reason and not decision.needs_review:
        decision = send_to_review(table, ticket.review_reason)
    return decision


def parse_routing(text: str, suffix: str) -> RoutingTable:
    """Parse routing rules from TOML (`.toml`) or YAML (`.yaml`/`.yml`) text."""
    try:
        raw: Any = tomllib.loads(text) if suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"routing file is not valid {suffix[1:]}: {exc}") from exc
    try:
        return RoutingTable.model_validate(raw)
    except ValidationError as exc:
        raise ConfigurationError(f"routing file is invalid: {exc}") from exc


def load_routing(path: Path | None) -> RoutingTable:
    """Load the routing file named by settings, or the bundled default."""
    if path is None:
        text = resources.files("pipeline.data").joinpath(DEFAULT_ROUTING_FILE).read_text("utf-8")
        return parse_routing(text, ".toml")
    if path.suffix not in {".toml", ".yaml", ".yml"}:
        raise ConfigurationError(f"routing file must be .toml, .yaml or .yml: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read routing file {path}: {exc}") from exc
    return parse_routing(text, path.suffix)
