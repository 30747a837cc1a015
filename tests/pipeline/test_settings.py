"""Settings: a `TRIAGE_*` name that is no setting is found, with the setting it resembles."""

from __future__ import annotations

import pytest

from pipeline.settings import unknown_setting_names


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("TRIAGE_CLASSIFER", "TRIAGE_CLASSIFIER"),  # a typo
        ("TRIAGE_LOGLEVEL", "TRIAGE_LOG_LEVEL"),  # a missing underscore
        ("TRIAGE_PEPER", "TRIAGE_API_KEY_PEPPER"),  # a shortened, misspelt name
        ("TRIAGE_ROUTING", "TRIAGE_ROUTING_FILE"),  # the start of a name
        ("triage_databse_url", "TRIAGE_DATABASE_URL"),  # any case
        ("TRIAGE_NOTHING_LIKE_IT", None),
    ],
)
def test_unknown_names_come_with_the_closest_setting(name: str, suggestion: str | None) -> None:
    assert unknown_setting_names([name]) == [(name, suggestion)]


def test_settings_and_the_listed_exceptions_are_not_reported() -> None:
    names = [
        "TRIAGE_CLASSIFIER",
        "triage_broker_url",
        "TRIAGE_TEST_POSTGRES_URL",
        "TRIAGE_ENV_FILE",
    ]
    assert unknown_setting_names([*names, "GEMINI_API_KEY", "PATH"]) == []
