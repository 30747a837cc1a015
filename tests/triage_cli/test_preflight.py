"""Start-up checks and one-line errors, as a person meets them: real `triage` processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
import redis
from click.testing import CliRunner

from pipeline.settings import Settings
from tests.support.processes import free_port
from triage_cli.preflight import TriageGroup, beat_schedule_path


def run_triage(
    args: list[str], tmp_path: Path, **env: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    """`triage ARGS` in `tmp_path` with only `env` as settings; its result and duration."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TRIAGE_") and k not in {"GEMINI_API_KEY", "GOOGLE_API_KEY"}
    }
    clean.update({"TRIAGE_DATABASE_URL": f"sqlite:///{tmp_path / 'triage.db'}", **env})
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "triage_cli", *args],
        env=clean,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result, time.monotonic() - started


def one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_a_gemini_worker_without_a_key_refuses_at_once(tmp_path: Path) -> None:
    result, took = run_triage(
        ["worker", "--metrics-port", "0"],
        tmp_path,
        TRIAGE_BROKER_URL="memory://",
        TRIAGE_CLASSIFIER="gemini",
    )
    assert result.returncode == 2
    assert took < 15, f"took {took:.1f}s"
    line = one_line(result.stderr)
    assert line.startswith("triage worker: TRIAGE_CLASSIFIER=gemini needs GEMINI_API_KEY")
    assert "ready" not in result.stdout + result.stderr


def test_the_api_without_a_pepper_refuses_before_gunicorn_boots(tmp_path: Path) -> None:
    result, _ = run_triage(["api", "--bind", f"127.0.0.1:{free_port()}"], tmp_path)
    assert result.returncode == 2
    assert one_line(result.stderr) == (
        "triage api: TRIAGE_API_KEY_PEPPER is not set: set it once, e.g. to "
        "`openssl rand -hex 32`, and keep it (a new one voids every key)"
    )
    assert "gunicorn" not in result.stdout.lower()


def test_beat_refuses_a_broker_that_is_down(tmp_path: Path) -> None:
    broker = f"redis://127.0.0.1:{free_port()}/0"
    result, _ = run_triage(["beat"], tmp_path, TRIAGE_BROKER_URL=broker, HOME=str(tmp_path))
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert line.startswith(f"triage beat: the broker at {broker} is unreachable (")
    assert line.endswith("start it or set TRIAGE_BROKER_URL")


def test_a_command_with_the_store_down_prints_one_line(tmp_path: Path) -> None:
    database = f"postgresql+psycopg://triage:hunter2@127.0.0.1:{free_port()}/triage"
    for args in (["status"], ["keys", "list"]):
        result, _ = run_triage(args, tmp_path, TRIAGE_DATABASE_URL=database)
        assert result.returncode == 1, args
        line = one_line(result.stderr)
        assert "the store at postgresql+psycopg://triage:***@127.0.0.1:" in line
        assert line.endswith("start PostgreSQL or set TRIAGE_DATABASE_URL")
        assert "hunter2" not in line


def test_invalid_settings_are_one_line_naming_the_variable(tmp_path: Path) -> None:
    result, _ = run_triage(["keys", "list"], tmp_path, TRIAGE_CONFIDENCE_THRESHOLD="2")
    assert result.returncode == 2
    assert one_line(result.stderr) == (
        "triage: invalid settings: TRIAGE_CONFIDENCE_THRESHOLD: Input should be less than or "
        "equal to 1 (fix the environment or .env)"
    )


def test_a_misspelt_setting_is_warned_about_with_the_right_suggestion(tmp_path: Path) -> None:
    result, _ = run_triage(
        ["status"], tmp_path, TRIAGE_CLASSIFER="local", TRIAGE_BROKER_URL="memory://"
    )
    assert (
        "triage: warning: TRIAGE_CLASSIFER (in the environment) is not a setting and is "
        "ignored: did you mean TRIAGE_CLASSIFIER?"
    ) in result.stderr.splitlines()


def test_a_misspelt_setting_in_the_dotenv_file_is_warned_about(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TRIAGE_LOGLEVEL=DEBUG\n")
    result, _ = run_triage(["keys", "list"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert one_line(result.stderr) == (
        "triage: warning: TRIAGE_LOGLEVEL (in .env) is not a setting and is ignored: "
        "did you mean TRIAGE_LOG_LEVEL?"
    )


def test_a_redis_outage_in_any_command_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAGE_ENV_FILE", "")
    monkeypatch.setenv("TRIAGE_BROKER_URL", "redis://:hunter2@127.0.0.1:6390/0")

    @click.group(cls=TriageGroup)
    def group() -> None:
        """A group like `triage`."""

    @group.command()
    def counters() -> None:
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")

    result = CliRunner().invoke(group, ["counters"])
    assert result.exit_code == 1
    assert result.stderr == (
        "triage: Redis at redis://:***@127.0.0.1:6390/0 is unreachable (Error 111 connecting "
        "to 127.0.0.1:6390. Connection refused.): start Redis or set TRIAGE_REDIS_URL "
        "(default: TRIAGE_BROKER_URL)\n"
    )


def test_beat_keeps_one_schedule_file_per_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    one = beat_schedule_path(Settings(database_url="postgresql://h/a", broker_url="redis://h/0"))
    same = beat_schedule_path(Settings(database_url="postgresql://h/a", broker_url="redis://h/0"))
    other = beat_schedule_path(Settings(database_url="postgresql://h/b", broker_url="redis://h/0"))
    assert one == same != other
    assert one.parent == tmp_path / ".cache" / "ticket-triage" and one.parent.is_dir()
