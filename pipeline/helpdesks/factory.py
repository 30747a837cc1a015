"""Building the helpdesk writers a routing file needs, from settings; naming what is missing."""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.domain.errors import ConfigurationError
from pipeline.helpdesks.credentials import credential_problem
from pipeline.helpdesks.freshdesk import FreshdeskWriter
from pipeline.helpdesks.github import GitHubWriter
from pipeline.helpdesks.intercom import IntercomWriter
from pipeline.helpdesks.jira import JiraWriter
from pipeline.helpdesks.zendesk import ZendeskWriter
from pipeline.ports import HelpdeskWriter
from pipeline.settings import Settings


def build_writers(settings: Settings, helpdesks: Iterable[str]) -> dict[str, HelpdeskWriter]:
    """One writer per named helpdesk; ConfigurationError when credentials are missing."""
    wanted = sorted(set(helpdesks))
    problem = credential_problem(settings, wanted)
    if problem is not None:
        raise ConfigurationError(problem)
    return {helpdesk: _writer(settings, helpdesk) for helpdesk in wanted}


def _writer(settings: Settings, helpdesk: str) -> HelpdeskWriter:
    timeout = settings.helpdesk_timeout_s

    def secret(name: str) -> str:
        value = getattr(settings, name)
        return str(value.get_secret_value())

    if helpdesk == "zendesk":
        return ZendeskWriter(
            str(settings.zendesk_base_url),
            str(settings.zendesk_email),
            secret("zendesk_api_token"),
            timeout,
        )
    if helpdesk == "freshdesk":
        return FreshdeskWriter(
            str(settings.freshdesk_base_url), secret("freshdesk_api_key"), timeout
        )
    if helpdesk == "jira":
        return JiraWriter(
            str(settings.jira_base_url), str(settings.jira_email), secret("jira_api_token"), timeout
        )
    if helpdesk == "github":
        return GitHubWriter(settings.github_api_url, secret("github_token"), timeout)
    return IntercomWriter(settings.intercom_base_url, secret("intercom_token"), timeout)
