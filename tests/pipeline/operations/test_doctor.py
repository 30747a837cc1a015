"""The doctor's checks against scripted probes: each verdict, and the line a person reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.domain.errors import ConfigurationError
from pipeline.operations.doctor import (
    Verdict,
    check_broker,
    check_classifier,
    check_flower,
    check_pepper,
    check_redis,
    check_routing,
    check_settings,
    check_store,
    env_file_names,
    run_doctor,
)
from pipeline.ports import SchemaState
from pipeline.settings import Settings

ROUTING = """
[categories.billing]
description = "Invoices"
department = "finance"
[categories.bug]
description = "Defects"
department = "engineering"
[departments.finance]
endpoint = "http://127.0.0.1:9100/finance"
[departments.engineering]
endpoint = "http://127.0.0.1:9100/engineering"
[departments.review]
"""


@dataclass
class ScriptedProbes:
    """HealthProbes with canned answers; records which URLs were reached."""

    schema: SchemaState = field(default_factory=lambda: SchemaState(current="h1", head="h1"))
    down: dict[str, str] = field(default_factory=dict)
    classifier_error: Exception | None = None
    reached: list[str] = field(default_factory=list)

    def store_schema(self) -> SchemaState:
        return self.schema

    def reach(self, url: str) -> str | None:
        self.reached.append(url)
        return self.down.get(url)

    def classifier(self) -> str:
        if self.classifier_error is not None:
            raise self.classifier_error
        return "local (m-1)"


def test_a_misspelt_name_fails_with_the_setting_it_resembles() -> None:
    result = check_settings({"TRIAGE_CLASSIFER": "local", "PATH": "/bin"}, [])
    assert result.verdict is Verdict.fail
    assert result.text() == (
        "TRIAGE_CLASSIFER (in the environment) is not a setting and is ignored: "
        "did you mean TRIAGE_CLASSIFIER?"
    )


def test_known_names_any_case_and_the_listed_exceptions_pass() -> None:
    environ = {
        "TRIAGE_CLASSIFIER": "local",
        "triage_database_url": "sqlite://",  # pydantic-settings matches names in any case
        "TRIAGE_TEST_POSTGRES_URL": "postgresql://x",  # the test suite's, not a setting
        "TRIAGE_ENV_FILE": "",
        "GEMINI_API_KEY": "k",
    }
    assert check_settings(environ, []).verdict is Verdict.ok


def test_names_in_the_dotenv_file_are_checked_too(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# comment\nexport TRIAGE_BROKER_URL=redis://x\nTRIAGE_PEPER=abc\nPOSTGRES_PASSWORD=p\n"
    )
    assert env_file_names(dotenv) == ["TRIAGE_BROKER_URL", "TRIAGE_PEPER", "POSTGRES_PASSWORD"]
    result = check_settings({}, [dotenv])
    assert result.verdict is Verdict.fail
    assert f"TRIAGE_PEPER (in {dotenv}) is not a setting" in result.detail
    assert "did you mean TRIAGE_API_KEY_PEPPER?" in result.detail
    assert env_file_names(tmp_path / "missing.env") == []


def test_a_name_like_no_setting_points_at_the_reference() -> None:
    result = check_settings({"TRIAGE_ZZZ": "1"}, [])
    assert result.detail.endswith("see docs/settings.md for the names")


def test_store_verdicts() -> None:
    error = "the store at postgresql://u:***@h/db is unreachable (refused): start PostgreSQL"
    down = check_store(ScriptedProbes(schema=SchemaState(error=error)))
    assert (down.verdict, down.detail) == (Verdict.fail, error)
    assert check_store(ScriptedProbes()).verdict is Verdict.ok
    empty = check_store(ScriptedProbes(schema=SchemaState(current=None, head="h2")))
    assert empty.verdict is Verdict.ok
    assert "the first process to start migrates it" in empty.detail
    stale = check_store(
        ScriptedProbes(schema=SchemaState(current="h1", head="h2", holds_tickets=True))
    )
    assert stale.verdict is Verdict.fail
    assert stale.fix == "run `triage db upgrade` (after a backup)"


def test_broker_and_redis_down_are_named_without_the_password() -> None:
    url = "redis://:hunter2@127.0.0.1:6390/0"
    settings = Settings(broker_url=url)
    probes = ScriptedProbes(down={url: "Connection refused"})
    broker, redis = check_broker(settings, probes), check_redis(settings, probes)
    assert broker.verdict is Verdict.fail and redis.verdict is Verdict.fail
    assert redis.name == "Redis"
    assert redis.text() == (
        "Redis at redis://:***@127.0.0.1:6390/0 is unreachable (Connection refused): "
        "start Redis or set TRIAGE_REDIS_URL (default: the broker's URL)"
    )
    assert "hunter2" not in broker.text() + redis.text()


def test_no_redis_is_a_skip_and_the_memory_transport_a_warning() -> None:
    settings = Settings(broker_url="memory://")
    probes = ScriptedProbes()
    assert check_redis(settings, probes).verdict is Verdict.skip
    assert check_broker(settings, probes).verdict is Verdict.warn
    assert probes.reached == []


def test_a_classifier_that_cannot_be_built_fails_with_its_own_message() -> None:
    message = "TRIAGE_CLASSIFIER=gemini needs GEMINI_API_KEY"
    result = check_classifier(ScriptedProbes(classifier_error=ConfigurationError(message)))
    assert (result.verdict, result.text()) == (Verdict.fail, message)
    assert check_classifier(ScriptedProbes()).detail == "loads: local (m-1)"


def test_routing_reports_unreachable_endpoints_grouped_by_cause(tmp_path: Path) -> None:
    routing = tmp_path / "routing.toml"
    routing.write_text(ROUTING)
    settings = Settings(routing_file=routing)
    refused = "127.0.0.1:9100: Connection refused"
    probes = ScriptedProbes(
        down={
            "http://127.0.0.1:9100/finance": refused,
            "http://127.0.0.1:9100/engineering": refused,
        }
    )
    result = check_routing(settings, probes)
    assert result.verdict is Verdict.fail
    assert result.detail == (
        f"{routing}: endpoints unreachable: {refused} for engineering, finance"
    )
    assert check_routing(settings, ScriptedProbes()).verdict is Verdict.ok


def test_an_invalid_routing_file_fails_in_one_line(tmp_path: Path) -> None:
    routing = tmp_path / "routing.toml"
    routing.write_text("[categories.billing]\ndescription = 'x'\ndepartment = 'nowhere'\n")
    result = check_routing(Settings(routing_file=routing), ScriptedProbes())
    assert result.verdict is Verdict.fail
    assert "\n" not in result.text()
    assert result.fix == "fix TRIAGE_ROUTING_FILE"


def test_secrets() -> None:
    assert check_pepper(Settings()).verdict is Verdict.warn
    assert check_pepper(Settings(api_key_pepper="p")).verdict is Verdict.ok
    assert check_flower(Settings()).verdict is Verdict.warn
    assert check_flower(Settings(flower_basic_auth="ops")).verdict is Verdict.fail
    assert check_flower(Settings(flower_basic_auth="ops:pw")).verdict is Verdict.ok


def test_the_doctor_runs_every_check_in_order() -> None:
    settings = Settings(broker_url="memory://", api_key_pepper="p", flower_basic_auth="a:b")
    results = run_doctor(settings, ScriptedProbes(), {}, [])
    assert [r.name for r in results] == [
        "settings",
        "store",
        "broker",
        "Redis",
        "classifier",
        "routing",
        "write-back",
        "API keys",
        "Flower",
    ]
    assert all(r.ok for r in results)
