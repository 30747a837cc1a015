"""Every provider of the chain needs its key at start-up; a bad price table refuses in one line."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from pipeline.classifiers.fallback import QueueClassifiers
from pipeline.settings import ClassifierChoice, Settings
from pipeline.wiring import Services, llm_key_problem
from tests.support.processes import free_port
from tests.triage_cli.test_preflight import one_line, run_triage


def test_a_worker_whose_fallback_has_no_key_refuses_in_one_line(tmp_path: Path) -> None:
    result, _ = run_triage(
        ["worker", "--metrics-port", "0"],
        tmp_path,
        TRIAGE_BROKER_URL="memory://",
        TRIAGE_CLASSIFIER="gemini",
        TRIAGE_GEMINI_API_KEY="stub-key",
        TRIAGE_LLM_FALLBACKS="openai,local",
        OPENAI_API_KEY="",
    )
    assert result.returncode == 2
    assert one_line(result.stderr) == (
        "triage worker: TRIAGE_LLM_FALLBACKS=openai,local needs OPENAI_API_KEY "
        "(the openai provider's key)"
    )


def test_the_api_refuses_a_fallback_without_its_key_too(tmp_path: Path) -> None:
    result, _ = run_triage(
        ["api", "--bind", f"127.0.0.1:{free_port()}"],
        tmp_path,
        TRIAGE_API_KEY_PEPPER="pepper",
        TRIAGE_LLM_FALLBACKS="anthropic,local",
        ANTHROPIC_API_KEY="",
    )
    assert result.returncode == 2
    assert "TRIAGE_LLM_FALLBACKS=anthropic,local needs ANTHROPIC_API_KEY" in one_line(result.stderr)


def test_a_malformed_price_table_refuses_start_naming_the_variable(tmp_path: Path) -> None:
    result, _ = run_triage(
        ["worker", "--metrics-port", "0"],
        tmp_path,
        TRIAGE_BROKER_URL="memory://",
        TRIAGE_LLM_PRICES='{"gpt-4o": {"input": -1, "output": 2}}',
    )
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert "TRIAGE_LLM_PRICES" in line and ">= 0" in line


def test_the_backfill_classifier_needs_its_key_and_gets_its_own_queue(
    settings: Settings,
) -> None:
    gemini = settings.model_copy(
        update={"classifier": ClassifierChoice.gemini, "gemini_api_key": SecretStr("k")}
    )
    cheaper = gemini.model_copy(update={"backfill_classifier": ClassifierChoice.openai})
    assert llm_key_problem(cheaper) == (
        "TRIAGE_BACKFILL_CLASSIFIER=openai needs OPENAI_API_KEY (the openai provider's key)"
    )
    keyed = cheaper.model_copy(update={"openai_api_key": SecretStr("sk-x")})
    assert llm_key_problem(keyed) is None

    services = Services(keyed)
    classifier = services.classifier
    assert isinstance(classifier, QueueClassifiers)
    assert services.classifier_for("live").name == "gemini"
    assert services.classifier_for("backfill").name == "openai"
    chain = services.fallback_chain
    assert chain is not None and chain.providers == ["local"]
