"""The settings reference (docs/settings.md), generated from the `Settings` object.

`python -m pipeline.settings_reference` rewrites docs/settings.md; `--check` exits 1 when it
is out of date (the test suite runs the same comparison). Every `TRIAGE_*` name, its type,
its default and its meaning (the field's description) come from pipeline/settings.py, so the
reference cannot drift from the code: change a field, regenerate, commit both.
"""

from __future__ import annotations

import argparse
import enum
import json
import re
import sys
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import SecretStr
from pydantic.fields import FieldInfo

from pipeline import settings as settings_module
from pipeline.settings import Settings

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "settings.md"
COMMAND = "python -m pipeline.settings_reference"
PREFIX = "TRIAGE_"
# annotated-types' bounds as pydantic keeps them in a field's metadata: class name → sign.
BOUNDS = {"Ge": "≥", "Gt": ">", "Le": "≤", "Lt": "<"}


def env_name(field: str) -> str:
    """The environment variable of a settings field."""
    return PREFIX + field.upper()


def _is_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return any(_is_secret(arg) for arg in get_args(annotation))


def _base_type(annotation: Any) -> str:
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(f"`{member.value}`" for member in annotation)
    origin = get_origin(annotation)
    if origin is dict:
        return "JSON object"
    if origin is list:
        return "JSON list"
    names = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path"}
    if annotation is SecretStr:
        return "secret string"
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def type_text(info: FieldInfo) -> str:
    """The field's type in words, with its bounds or allowed values."""
    annotation = info.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next(arg for arg in get_args(annotation) if arg is not type(None))
    text = _base_type(annotation)
    bounds = []
    for item in info.metadata:
        pattern = getattr(item, "pattern", None)
        choices = re.fullmatch(r"\^\(([\w|]+)\)\$", pattern) if pattern else None
        if choices:
            text = "one of " + ", ".join(f"`{c}`" for c in choices.group(1).split("|"))
        elif pattern:
            text += f" matching `{pattern}`"
        kind = type(item).__name__
        if kind in BOUNDS:
            bounds.append(f"{BOUNDS[kind]} {getattr(item, kind.lower())}")
    return text + (" " + ", ".join(bounds) if bounds else "")


def default_text(info: FieldInfo) -> str:
    """The default as it would be written in the environment; secrets show none."""
    if _is_secret(info.annotation):
        return "— (secret)"
    if info.is_required():
        return "required"
    default = info.get_default(call_default_factory=True)
    if default is None:
        return "unset"
    if isinstance(default, enum.Enum):
        default = default.value
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, dict | list):
        return f"`{json.dumps(default)}`"
    return f"`{default}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render() -> str:
    """docs/settings.md as it should read now."""
    env_file = getattr(settings_module, "ENV_FILE_VARIABLE", None)
    lines = [
        f"<!-- Generated from pipeline/settings.py by `{COMMAND}`: do not edit by hand. -->",
        "# Settings reference",
        "",
        "Every setting is an environment variable with the prefix `TRIAGE_` (names are not "
        "case-sensitive), read when a process starts."
        + (
            " A `TRIAGE_*` variable that is no setting is ignored by the processes; `triage` "
            "names it, with a did-you-mean."
            if hasattr(settings_module, "unknown_setting_names")
            else ""
        ),
    ]
    if env_file:
        lines += [
            "",
            "Besides the environment, settings are read from `.env` in the working directory "
            f"(`{env_file}` names another file; empty: none). A real environment variable "
            "wins over the file.",
        ]
    lines += [
        "",
        "Secrets show no default. This page is generated: after changing a field of "
        f"`pipeline/settings.py`, run `.venv/bin/{COMMAND}`.",
        "",
        "| Variable | Type | Default | Meaning |",
        "| --- | --- | --- | --- |",
    ]
    for name, info in Settings.model_fields.items():
        cells = (
            f"`{env_name(name)}`",
            type_text(info),
            default_text(info),
            info.description or "",
        )
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write docs/settings.md, or with --check say whether it is up to date (exit 1 if not)."""
    parser = argparse.ArgumentParser(prog=COMMAND, description=main.__doc__)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--output", type=Path, default=REFERENCE, help="[default: %(default)s]")
    args = parser.parse_args(argv)
    text = render()
    current = args.output.read_text("utf-8") if args.output.is_file() else None
    if args.check:
        if current != text:
            print(f"{args.output} is out of date: run {COMMAND}", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    if current != text:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, "utf-8")
        print(f"wrote {args.output}")
    else:
        print(f"{args.output} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
