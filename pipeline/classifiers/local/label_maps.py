"""Mapping a file's label values to ours before training, and checking them against routing.

A label map is a JSON object (`{"theirs": "ours", ...}`) or a two-column CSV (`theirs,ours`,
an optional header row `theirs,ours`). Labels the map does not name are kept as they are.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from pipeline.classifiers.local.labelled_examples import LabelledExample


class LabelMapError(ValueError):
    """The label map cannot be read."""


def read_label_map(path: Path) -> dict[str, str]:
    """Their label -> ours, from a JSON object or a two-column CSV."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise LabelMapError(f"cannot read label map {path}: {exc.strerror or exc}") from exc
    if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LabelMapError(f"{path}: not JSON ({exc.msg})") from exc
        if not isinstance(loaded, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in loaded.items()
        ):
            raise LabelMapError(f"{path}: a JSON object of their label -> our label expected")
        return {k.strip(): v.strip() for k, v in loaded.items()}
    mapping: dict[str, str] = {}
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) != 2 or not row[1].strip():
            raise LabelMapError(f"{path}:{number}: two columns expected: their label,our label")
        theirs, ours = row[0].strip(), row[1].strip()
        if number == 1 and (theirs.lower(), ours.lower()) == ("theirs", "ours"):
            continue
        mapping[theirs] = ours
    if not mapping:
        raise LabelMapError(f"{path}: no label pairs")
    return mapping


def relabel(
    examples: Sequence[LabelledExample],
    mapping: Mapping[str, str] | None,
    *,
    casefold: bool = False,
) -> list[LabelledExample]:
    """Examples with mapped labels; `casefold` also lower-cases (and matches the map caselessly)."""
    table = dict(mapping or {})
    if casefold:
        table = {k.casefold(): v for k, v in table.items()}
    out = []
    for example in examples:
        label = example.category
        key = label.casefold() if casefold else label
        label = table.get(key, label)
        if casefold:
            label = label.casefold()
        out.append(example if label == example.category else replace(example, category=label))
    return out


def unrouted_labels(labels: Iterable[str], routed: Iterable[str]) -> list[str]:
    """The labels that no category of the routing file names (sorted)."""
    known = set(routed)
    return sorted(set(labels) - known)


def unrouted_message(missing: Sequence[str], routed: Iterable[str]) -> str:
    """A warning naming labels without a route, with the caseless match where there is one."""
    by_case = {name.casefold(): name for name in routed}
    named = []
    for label in missing[:20]:
        near = by_case.get(label.casefold())
        named.append(f"{label!r} (routing has {near!r}: --casefold?)" if near else repr(label))
    more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
    return (
        f"warning: {len(missing)} labels have no route in the routing file, so tickets given "
        f"them go to review: {', '.join(named)}{more}"
    )
