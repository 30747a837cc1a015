"""Helpdesk exports as backfill rows, mapped by the same connector mappers as the webhooks.

`--format zendesk`: the incremental ticket export (`{"tickets": [...]}`, or JSON lines);
`freshdesk`: the ticket CSV export; `jira`: a Jira CSV export (Issue key, Summary,
Description, Reporter, Priority, Created); `github`: the REST issues list (a JSON array).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pipeline.backfill.sources import (
    UNREADABLE,
    SourceError,
    SourceRow,
    _first_columns,
    read_rows,
)
from pipeline.connectors import ConnectorError, Ignored, freshdesk, github, jira, zendesk
from pipeline.connectors.base import InboundEvent

Mapper = Callable[[dict[str, Any]], InboundEvent]
MAPPERS: dict[str, Mapper] = {
    "zendesk": zendesk.from_export,
    "freshdesk": freshdesk.from_export,
    "jira": jira.from_export,
    "github": github.from_export,
}
FORMATS = tuple(MAPPERS)
# CSV formats: the columns a file must have to be that export.
REQUIRED_COLUMNS = {"freshdesk": ("Ticket ID", "Subject"), "jira": ("Issue key", "Summary")}


def check_format(path: Path, fmt: str) -> None:
    """Refuse at once a missing file, an unknown format, or a CSV without the export's columns."""
    if fmt not in MAPPERS:
        raise SourceError(f"unknown --format {fmt!r}; one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise SourceError(f"{path} does not exist")
    if fmt in REQUIRED_COLUMNS:
        try:
            columns = _first_columns(path) or []
        except UNREADABLE as exc:
            raise SourceError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
        missing = [c for c in REQUIRED_COLUMNS[fmt] if c not in columns]
        if missing:
            raise SourceError(
                f"{path}: not a {fmt} CSV export (no column {', '.join(map(repr, missing))})"
            )


def read_format_rows(path: Path, fmt: str) -> Iterator[SourceRow]:
    """Every ticket of the export as our fields; one that does not map carries its problem."""
    mapper = MAPPERS[fmt]
    for row in _records(path, fmt):
        if row.problem is not None:
            yield row
            continue
        try:
            event = mapper(row.fields)
        except ConnectorError as error:
            yield SourceRow(row.row, row.line, {}, str(error), row.offset)
            continue
        if isinstance(event, Ignored):
            continue  # pull requests, deleted tickets: not tickets to triage
        fields = event.submission.model_dump(mode="json", exclude_none=True)
        yield SourceRow(row.row, row.line, fields, offset=row.offset)


def _records(path: Path, fmt: str) -> Iterator[SourceRow]:
    if fmt in REQUIRED_COLUMNS:
        yield from read_rows(path, {})  # CSV: columns as the export names them
        return
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UNREADABLE as exc:
        raise SourceError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
    stripped = text.lstrip()
    if stripped.startswith("{") and "\n{" in stripped.rstrip():
        yield from read_rows(path, {})  # JSON lines, one ticket per line
        return
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{path}: not JSON ({exc.msg})") from None
    items = _items(document, fmt)
    size = path.stat().st_size
    for index, item in enumerate(items, start=1):
        if isinstance(item, Mapping):
            yield SourceRow(index, index, dict(item), offset=size)
        else:
            yield SourceRow(index, index, {}, "not a JSON object", size)


def _items(document: Any, fmt: str) -> list[Any]:
    if isinstance(document, list):
        return document
    if isinstance(document, dict) and isinstance(document.get("tickets"), list):
        return list(document["tickets"])
    if isinstance(document, dict) and isinstance(document.get("ticket"), dict):
        return [document["ticket"]]
    shape = "a list of issues" if fmt == "github" else '{"tickets": [...]} or JSON lines'
    raise SourceError(f"a {fmt} export is {shape}")
