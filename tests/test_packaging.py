"""Packaging: the license shipped, dependencies as imported, installs pinned by constraints.txt."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
# SHA-256 of the Apache License 2.0 as apache.org publishes it (LICENSE-2.0.txt; Debian's
# /usr/share/common-licenses/Apache-2.0 is the same file).
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"


def declared() -> list[Requirement]:
    """Every requirement of pyproject.toml: the dependencies and every optional group."""
    project = PYPROJECT["project"]
    lines = list(project["dependencies"])
    for group in project.get("optional-dependencies", {}).values():
        lines += group
    return [Requirement(line) for line in lines]


def pins() -> dict[str, Version]:
    """constraints.txt: canonical name → the pinned version (every line must be an `==` pin)."""
    pinned = {}
    for line in (ROOT / "constraints.txt").read_text("utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s;]+)", line.strip())
        assert match, f"constraints.txt: not an exact pin: {line!r}"
        pinned[canonicalize_name(match.group(1))] = Version(match.group(2))
    return pinned


def test_license_is_the_standard_apache_2_text_and_declared() -> None:
    text = (ROOT / "LICENSE").read_bytes()
    assert hashlib.sha256(text).hexdigest() == APACHE_2_SHA256
    assert PYPROJECT["project"]["license"] == "Apache-2.0"  # SPDX, not the deprecated table
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]


def test_imported_tools_are_declared_and_unused_ones_are_not() -> None:
    names = {canonicalize_name(req.name) for req in declared()}
    assert {"click", "werkzeug", "deptry"} <= names
    assert "tenacity" not in names  # declared and never imported (google-genai brings its own)


def test_constraints_pin_every_declared_dependency_within_its_range() -> None:
    pinned = pins()
    missing = sorted(req.name for req in declared() if canonicalize_name(req.name) not in pinned)
    assert missing == [], "constraints.txt lacks these: run `make lock`"
    outside = [
        f"{req} (pinned {pinned[canonicalize_name(req.name)]})"
        for req in declared()
        if not req.specifier.contains(pinned[canonicalize_name(req.name)], prereleases=True)
    ]
    assert outside == [], "constraints.txt pins outside pyproject.toml's ranges: run `make lock`"
    assert "ticket-triage" not in pinned  # frozen with --exclude-editable


def test_installs_use_the_constraints_and_reinstall_when_they_change() -> None:
    makefile = (ROOT / "Makefile").read_text("utf-8")
    stamp = re.search(r"^\$\(STAMP\):(.*)$", makefile, re.MULTILINE)
    assert stamp and set(stamp.group(1).split()) == {"pyproject.toml", "constraints.txt"}
    assert "pip install --quiet -c constraints.txt -e '.[dev]'" in makefile
    assert re.search(r"^lock:", makefile, re.MULTILINE)
    assert "pip freeze --exclude-editable" in makefile
    test_target = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "$(BIN)/deptry ." in test_target
    dockerfile = (ROOT / "Dockerfile").read_text("utf-8")
    assert "pip install -c constraints.txt -r /tmp/requirements.txt" in dockerfile


def test_every_top_level_module_is_packaged_and_copied_into_the_image() -> None:
    modules = sorted(path.stem for path in ROOT.glob("*.py"))
    assert modules == sorted(PYPROJECT["tool"]["setuptools"]["py-modules"])
    assert "flowerconfig" in modules  # Flower's configuration travels with the package
    dockerfile = (ROOT / "Dockerfile").read_text("utf-8")
    for module in modules:
        assert re.search(rf"^COPY .*\b{module}\.py\b", dockerfile, re.MULTILINE), module
    assert re.search(r"^COPY .*\bLICENSE\b", dockerfile, re.MULTILINE)  # license-files needs it
