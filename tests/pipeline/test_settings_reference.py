"""docs/settings.md is the settings object's reference: complete, current, no secret shown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pydantic import SecretStr

from pipeline import settings_reference
from pipeline.settings import Settings
from pipeline.settings_reference import REFERENCE, env_name, render

ROOT = Path(__file__).resolve().parents[2]


def rows() -> dict[str, list[str]]:
    """The reference table's rows by variable name: [type, default, meaning]."""
    table = {}
    for line in REFERENCE.read_text("utf-8").splitlines():
        if line.startswith("| `TRIAGE_"):
            cells = [cell.strip() for cell in line.strip("|").split(" | ")]
            table[cells[0].strip("`")] = cells[1:]
    return table


def test_docs_settings_md_is_up_to_date() -> None:
    assert REFERENCE == ROOT / "docs" / "settings.md"
    assert REFERENCE.read_text("utf-8") == render(), (
        "docs/settings.md is out of date: run .venv/bin/python -m pipeline.settings_reference"
    )


def test_every_setting_is_listed_once_with_a_meaning() -> None:
    table = rows()
    assert list(table) == [env_name(name) for name in Settings.model_fields]
    undocumented = [name for name, info in Settings.model_fields.items() if not info.description]
    assert undocumented == [], "add description= to these fields in pipeline/settings.py"
    assert all(meaning for _type, _default, meaning in table.values())


def test_types_defaults_and_bounds_read_as_written() -> None:
    table = rows()
    assert table["TRIAGE_DATABASE_URL"][:2] == ["string", "`sqlite:///triage.db`"]
    assert table["TRIAGE_CLASSIFIER"][:2] == [
        "one of `auto`, `local`, `gemini`, `openai`, `anthropic`, `cascade`",
        "`auto`",
    ]
    assert table["TRIAGE_LLM_FALLBACK"][0] == "one of `needs_review`, `failed`"
    assert table["TRIAGE_LLM_GROUP_SIZE"][:2] == ["integer ≥ 1, ≤ 100", "`20`"]
    assert table["TRIAGE_ASYNC_COMMIT"][:2] == ["boolean", "`false`"]
    assert table["TRIAGE_REDIS_URL"][1] == "unset"


def test_secrets_show_no_default() -> None:
    table = rows()
    secret_fields = [
        name
        for name, info in Settings.model_fields.items()
        if SecretStr in (info.annotation, *getattr(info.annotation, "__args__", ()))
        or "SecretStr" in str(info.annotation)
    ]
    assert "api_key_pepper" in secret_fields and "webhook_secrets" in secret_fields
    for name in secret_fields:
        assert table[env_name(name)][1] == "— (secret)", name


def test_check_exits_1_naming_the_command_when_stale(tmp_path: Path) -> None:
    stale = tmp_path / "settings.md"
    stale.write_text("old\n", "utf-8")
    assert settings_reference.main(["--check", "--output", str(stale)]) == 1
    assert settings_reference.main(["--output", str(stale)]) == 0  # regenerates
    assert stale.read_text("utf-8") == render()
    command = [sys.executable, "-m", "pipeline.settings_reference", "--check"]
    result = subprocess.run(
        [*command, "--output", "/nonexistent"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr == (
        "/nonexistent is out of date: run python -m pipeline.settings_reference\n"
    )
