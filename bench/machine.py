"""Where and how the figures were taken: machine, servers, packages, commit, load."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg
import redis

from bench.common import HOST, POSTGRES_ADMIN_DSN, REDIS_PORT, ROOT


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _server_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"postgresql": None, "redis": None}
    with contextlib.suppress(Exception), psycopg.connect(POSTGRES_ADMIN_DSN) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        versions["postgresql"] = str(row[0]) if row else None
    with contextlib.suppress(Exception):
        info: Any = redis.Redis(host=HOST, port=REDIS_PORT).info("server")
        versions["redis"] = str(info.get("redis_version"))
    return versions


def source_revision() -> dict[str, Any]:
    """The commit measured, and whether tracked files differed from it (read-only git)."""

    def git(*args: str) -> str:
        completed = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
        )
        return completed.stdout.strip()

    try:
        changed = git("status", "--porcelain", "--untracked-files=no").splitlines()
        return {"commit": git("rev-parse", "HEAD") or None, "modified_files": len(changed)}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "modified_files": None}


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages: other work on the machine skews every figure."""
    return [round(x, 2) for x in os.getloadavg()]


def machine_info(command: str) -> dict[str, Any]:
    """Where and how the figures were taken."""
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "source": source_revision(),
        "load_average_at_start": load_average(),
        "servers": _server_versions(),
        "packages": {
            name: _version(name)
            for name in (
                "flask",
                "gunicorn",
                "celery",
                "kombu",
                "redis",
                "sqlalchemy",
                "psycopg",
                "google-genai",
                "pydantic",
            )
        },
    }
