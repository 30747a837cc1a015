"""Choosing the LLM provider: `auto`, the cascade's LLM, and what a missing key says."""

from __future__ import annotations

import pytest

from pipeline.domain.errors import ConfigurationError
from pipeline.domain.routing import load_routing
from pipeline.settings import ClassifierChoice, Settings
from pipeline.wiring import build_classifier, llm_key_problem

PROVIDER_ENV = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY")


@pytest.fixture(autouse=True)
def no_provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)


def test_auto_is_local_without_any_key() -> None:
    settings = Settings(classifier="auto")
    assert settings.effective_classifier() is ClassifierChoice.local
    assert settings.llm_provider() is None
    assert llm_key_problem(settings) is None


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"OPENAI_API_KEY": "sk-x"}, ClassifierChoice.openai),
        ({"ANTHROPIC_API_KEY": "sk-ant-x"}, ClassifierChoice.anthropic),
        ({"ANTHROPIC_API_KEY": "a", "OPENAI_API_KEY": "o"}, ClassifierChoice.openai),
        ({"ANTHROPIC_API_KEY": "a", "GEMINI_API_KEY": "g"}, ClassifierChoice.gemini),
    ],
)
def test_auto_picks_the_first_provider_whose_key_is_set(
    monkeypatch: pytest.MonkeyPatch, keys: dict[str, str], expected: ClassifierChoice
) -> None:
    for name, value in keys.items():
        monkeypatch.setenv(name, value)
    settings = Settings(classifier="auto")
    assert settings.effective_classifier() is expected
    assert settings.llm_provider() is expected


def test_the_cascade_asks_the_named_provider_or_the_first_keyed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-x")
    assert Settings(classifier="cascade").llm_provider() is ClassifierChoice.anthropic
    named = Settings(classifier="cascade", cascade_llm="openai")
    assert named.llm_provider() is ClassifierChoice.openai
    assert llm_key_problem(named) == (
        "TRIAGE_CLASSIFIER=cascade needs OPENAI_API_KEY (the openai provider's key)"
    )


@pytest.mark.parametrize(
    ("choice", "names"),
    [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY")],
)
def test_a_provider_without_its_key_refuses_with_one_line(choice: str, names: str) -> None:
    settings = Settings(classifier=choice)
    problem = llm_key_problem(settings)
    assert problem == f"TRIAGE_CLASSIFIER={choice} needs {names} (the {choice} provider's key)"
    with pytest.raises(ConfigurationError, match=names):
        build_classifier(settings, load_routing(None), local=object())  # type: ignore[arg-type]


def test_a_key_given_as_a_setting_counts_like_the_sdk_variable() -> None:
    settings = Settings(classifier="openai", openai_api_key="sk-from-settings")
    assert settings.openai_key() == "sk-from-settings"
    assert llm_key_problem(settings) is None
