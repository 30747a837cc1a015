"""`triage --version`: the installed package's version, from its metadata."""

from __future__ import annotations

from importlib.metadata import version

from click.testing import CliRunner

from triage_cli.main import main


def test_version_is_the_package_metadata() -> None:
    result = CliRunner().invoke(main, ["--version"])

    assert result.exit_code == 0
    assert result.stdout == f"triage, version {version('ticket-triage')}\n"
