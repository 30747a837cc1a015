"""`triage doctor` on real servers: 0 on a healthy stack, 1 naming what is down."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.processes import free_port
from tests.support.servers import redis_url
from triage_cli.main import main

REDIS_DB = 2  # PING only: nothing is ever written to it


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No TRIAGE_* or LLM key from the developer's shell, and no dotenv file."""
    import os

    for name in list(os.environ):
        if name.startswith("TRIAGE_") or name in {"GEMINI_API_KEY", "GOOGLE_API_KEY"}:
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRIAGE_ENV_FILE", "")
    return monkeypatch


@pytest.fixture
def receiver() -> Iterator[int]:
    """A port something listens on: the department endpoints' receiver."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def healthy(env: pytest.MonkeyPatch, tmp_path: Path, database: str, port: int) -> None:
    routing = tmp_path / "routing.toml"
    routing.write_text(
        '[categories.billing]\ndescription = "Invoices"\ndepartment = "finance"\n'
        f'[departments.finance]\nendpoint = "http://127.0.0.1:{port}/finance"\n'
        "[departments.review]\n"
    )
    for name, value in {
        "TRIAGE_DATABASE_URL": database,
        "TRIAGE_BROKER_URL": redis_url(REDIS_DB),
        "TRIAGE_CLASSIFIER": "local",
        "TRIAGE_ROUTING_FILE": str(routing),
        "TRIAGE_API_KEY_PEPPER": "doctor-test-pepper",
        "TRIAGE_FLOWER_BASIC_AUTH": "ops:doctor-test",
    }.items():
        env.setenv(name, value)


def test_doctor_passes_every_check_on_a_healthy_stack(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, fresh_postgres_url: str, receiver: int
) -> None:
    healthy(clean_env, tmp_path, fresh_postgres_url, receiver)
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == ["ok"] * 9, result.stdout
    assert lines[-1] == "all 9 checks passed"
    assert result.stderr == ""


def test_doctor_fails_naming_redis_when_redis_is_down(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, receiver: int
) -> None:
    healthy(clean_env, tmp_path, f"sqlite:///{tmp_path / 'triage.db'}", receiver)
    down = f"redis://127.0.0.1:{free_port()}/{REDIS_DB}"
    clean_env.setenv("TRIAGE_BROKER_URL", down)
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 1, result.output
    redis_line = next(line for line in result.stdout.splitlines() if line.split()[1] == "Redis")
    assert redis_line.startswith(f"FAIL  Redis       Redis at {down} is unreachable (")
    assert redis_line.endswith("start Redis or set TRIAGE_REDIS_URL (default: the broker's URL)")
    assert result.stdout.splitlines()[-1] == "2 of 9 checks failed: broker, Redis"


def test_doctor_names_a_misspelt_setting_and_an_unreachable_department(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, receiver: int
) -> None:
    healthy(clean_env, tmp_path, f"sqlite:///{tmp_path / 'triage.db'}", receiver)
    clean_env.setenv("TRIAGE_BROKER_URL", "memory://")
    clean_env.setenv("TRIAGE_CLASSIFER", "gemini")
    closed = free_port()
    routing = Path(tmp_path / "routing.toml")
    routing.write_text(routing.read_text().replace(str(receiver), str(closed)))
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 1
    by_name = {line.split()[1]: line for line in result.stdout.splitlines()[:-1]}
    assert by_name["settings"].endswith("did you mean TRIAGE_CLASSIFIER?")
    assert f"127.0.0.1:{closed}: Connection refused for finance" in by_name["routing"]
    assert by_name["broker"].startswith("warn")
    assert result.stdout.splitlines()[-1] == "2 of 9 checks failed: settings, routing"
