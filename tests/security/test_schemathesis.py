"""schemathesis over /openapi.json, all checks and stateful links, against a real `triage api`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from pipeline.domain.operator import Role
from tests.security.attack import mint_key
from tests.security.conftest import LiveApi

MAX_EXAMPLES = 10  # per operation and phase: the whole run stays within ~2 minutes
SECONDS = 300  # a hard stop well past the expected time, so a hang fails instead of stalling


def schemathesis_command(api: LiveApi, key: str, report: Path) -> list[str]:
    """`st run` with every check and phase (stateful included), bounded examples, one worker."""
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
    return [
        st,
        "run",
        f"{api.base_url}/openapi.json",
        "--url",
        api.base_url,
        "--header",
        f"X-API-Key: {key}",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "1",
        "--seed",
        "19",
        "--report",
        "junit,vcr",
        "--report-dir",
        str(report),
    ]


def test_schemathesis_finds_nothing(live_api: LiveApi, tmp_path: Path) -> None:
    result = subprocess.run(
        schemathesis_command(live_api, mint_key(live_api, "schemathesis", Role.admin), tmp_path),
        capture_output=True,
        text=True,
        timeout=SECONDS,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
