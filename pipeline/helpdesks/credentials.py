"""Which TRIAGE_* credentials a routing file's helpdesk targets need (no HTTP client here)."""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.settings import Settings

# The settings each helpdesk's writer needs (the URL ones with a default are not listed).
REQUIRED_SETTINGS = {
    "zendesk": ("zendesk_base_url", "zendesk_email", "zendesk_api_token"),
    "freshdesk": ("freshdesk_base_url", "freshdesk_api_key"),
    "jira": ("jira_base_url", "jira_email", "jira_api_token"),
    "github": ("github_token",),
    "intercom": ("intercom_token",),
}


def missing_credentials(settings: Settings, helpdesks: Iterable[str]) -> list[str]:
    """The TRIAGE_* variables to set before the given helpdesks can be written back to."""
    return [
        f"TRIAGE_{name.upper()}"
        for helpdesk in sorted(helpdesks)
        for name in REQUIRED_SETTINGS[helpdesk]
        if getattr(settings, name) is None
    ]


def credential_problem(settings: Settings, helpdesks: Iterable[str]) -> str | None:
    """One line naming what to set, or None when every named helpdesk has its credentials."""
    wanted = sorted(set(helpdesks))
    missing = missing_credentials(settings, wanted)
    if not missing:
        return None
    return (
        f"the routing file writes back to {', '.join(wanted)}, but {', '.join(missing)} "
        f"{'is' if len(missing) == 1 else 'are'} not set"
    )
