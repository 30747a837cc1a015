"""Starting our own commands as real processes, and stopping them cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.waiting import wait_for


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def triage_process(
    args: list[str], env: dict[str, str], log_path: Path, *, grace_s: float = 30
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `triage ARGS` with extra environment; SIGTERM (then SIGKILL) on exit."""
    full_env = {**os.environ, **env}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "triage_cli", *args],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=grace_s)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def wait_until_serving(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    """Wait until `url` answers, failing early (with the log) if the process died."""

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"process exited: {log_path.read_text()[-3000:]}")
        try:
            return httpx.get(url, timeout=1).status_code < 500
        except httpx.HTTPError:
            return False

    wait_for(up, timeout=60, interval=0.2, what=f"{url} to answer")
