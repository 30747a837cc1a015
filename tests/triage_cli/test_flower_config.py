"""Flower is closed whichever way it starts: `celery -A workers flower` and `triage flower`,
from a working directory that is not the checkout, both read our flowerconfig.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.processes import free_port, wait_until_serving

AUTH = ("ops", "flower-config-password")
REFUSAL = (
    "flower: set TRIAGE_FLOWER_BASIC_AUTH=user:password (without it Flower would serve its UI "
    "to anyone)"
)
# The two ways of starting Flower; the in-memory broker keeps this test off Redis.
COMMANDS = {
    "celery -A workers flower": [sys.executable, "-m", "celery", "-A", "workers", "flower"],
    "triage flower": [sys.executable, "-m", "triage_cli", "flower"],
}


def flower_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment less any Flower settings, on the in-memory broker, plus `extra`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("FLOWER_", "TRIAGE_FLOWER_"))
    }
    env.update(
        TRIAGE_BROKER_URL="memory://",
        TRIAGE_DATABASE_URL=f"sqlite:///{tmp_path / 'triage.db'}",
        **extra,
    )
    return env


@contextmanager
def running(argv: list[str], env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run `argv` in `cwd`, its output in cwd/flower.log; its process group ended on exit."""
    with open(cwd / "flower.log", "wb") as log:
        process = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working directory that is not the checkout (no flowerconfig.py in it)."""
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    return workdir


@pytest.mark.parametrize("how", list(COMMANDS))
def test_flower_refuses_anonymous_access(how: str, tmp_path: Path, elsewhere: Path) -> None:
    port = free_port()
    env = flower_env(
        tmp_path, TRIAGE_FLOWER_BASIC_AUTH=":".join(AUTH), TRIAGE_FLOWER_PORT=str(port)
    )
    with running(COMMANDS[how], env, elsewhere) as process:
        # The address and port come from our settings too: 127.0.0.1, TRIAGE_FLOWER_PORT.
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(f"{base}/healthcheck", process, elsewhere / "flower.log")
        for path in ("/", "/api/workers", "/tasks"):
            assert httpx.get(base + path, timeout=10).status_code == 401, path
            wrong = httpx.get(base + path, auth=("ops", "wrong"), timeout=10)
            assert wrong.status_code == 401, path
        assert httpx.get(base + "/", auth=AUTH, timeout=10).status_code == 200
        assert httpx.get(base + "/api/workers", auth=AUTH, timeout=10).status_code == 200


@pytest.mark.parametrize("how", list(COMMANDS))
def test_flower_without_auth_does_not_start(how: str, tmp_path: Path, elsewhere: Path) -> None:
    env = flower_env(tmp_path, TRIAGE_FLOWER_PORT=str(free_port()))
    result = subprocess.run(
        COMMANDS[how], env=env, cwd=elsewhere, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [REFUSAL]
    assert "Traceback" not in result.stdout + result.stderr


def test_flowers_own_auth_option_still_wins(tmp_path: Path, elsewhere: Path) -> None:
    # No TRIAGE_FLOWER_BASIC_AUTH: Flower's own --basic-auth is auth enough, and is used.
    port = free_port()
    argv = [*COMMANDS["celery -A workers flower"], f"--port={port}", "--basic-auth=cli:secret"]
    with running(argv, flower_env(tmp_path), elsewhere) as process:
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(f"{base}/healthcheck", process, elsewhere / "flower.log")
        assert httpx.get(base + "/", timeout=10).status_code == 401
        assert httpx.get(base + "/", auth=("cli", "secret"), timeout=10).status_code == 200
