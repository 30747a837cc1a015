"""A routing file naming a helpdesk without its credentials refuses worker start in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from pipeline.domain.errors import ConfigurationError
from pipeline.helpdesks.factory import build_writers
from pipeline.operations.doctor import Verdict, check_helpdesks
from pipeline.settings import Settings
from tests.conftest import EXAMPLE_ROUTING


def _routing(tmp_path: Path) -> Path:
    path = tmp_path / "routing.toml"
    path.write_text(
        EXAMPLE_ROUTING.read_text()
        + "[departments.finance.zendesk]\ngroup_id = 1\n"
        + '[departments.sales.github]\nlabels = ["x"]\n'
    )
    return path


def test_missing_credentials_are_named_in_one_line(tmp_path: Path) -> None:
    settings = Settings(routing_file=_routing(tmp_path), zendesk_email="a@example.com")
    result = check_helpdesks(settings)

    assert result.verdict is Verdict.fail and "\n" not in result.text()
    assert result.text().count("TRIAGE_") == 3
    for name in ("TRIAGE_ZENDESK_BASE_URL", "TRIAGE_ZENDESK_API_TOKEN", "TRIAGE_GITHUB_TOKEN"):
        assert name in result.text()
    with pytest.raises(ConfigurationError, match="TRIAGE_GITHUB_TOKEN"):
        build_writers(settings, {"github"})


def test_credentials_set_pass_and_stay_secret(tmp_path: Path) -> None:
    settings = Settings(
        routing_file=_routing(tmp_path),
        zendesk_base_url="https://acme.zendesk.com",
        zendesk_email="a@example.com",
        zendesk_api_token=SecretStr("zd-secret"),
        github_token=SecretStr("ghp-secret"),
    )
    result = check_helpdesks(settings)
    assert result.verdict is Verdict.ok and "github, zendesk" in result.text()
    writers = build_writers(settings, {"zendesk", "github"})
    assert set(writers) == {"zendesk", "github"}
    assert "secret" not in repr(settings.zendesk_api_token)


def test_the_bundled_routing_needs_no_credentials() -> None:
    assert check_helpdesks(Settings()).verdict is Verdict.ok


def test_a_worker_without_the_credentials_refuses_to_start(tmp_path: Path) -> None:
    from tests.triage_cli.test_preflight import one_line, run_triage

    result, _ = run_triage(
        ["worker", "--metrics-port", "0"],
        tmp_path,
        TRIAGE_BROKER_URL="memory://",
        TRIAGE_CLASSIFIER="local",
        TRIAGE_ROUTING_FILE=str(_routing(tmp_path)),
    )
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert line.startswith("triage worker: the routing file writes back to github, zendesk")
    assert "TRIAGE_ZENDESK_API_TOKEN" in line and "TRIAGE_GITHUB_TOKEN" in line
