"""Reading ticket rows from CSV or JSONL (gzip accepted), with a column mapping, streaming."""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from pipeline.domain.errors import TriageError

# Our field names; `--map ours=theirs` renames the file's columns to these.
FIELDS = (
    "external_id",
    "subject",
    "description",
    "customer_id",
    "priority",
    "created_at",
    "category",
)


class SourceError(TriageError):
    """The file or the mapping cannot be used at all (not one bad row: that is a reject)."""


@dataclass(frozen=True)
class SourceRow:
    """One input record: 1-based row number, physical line, fields, or why it is unreadable."""

    row: int
    line: int
    fields: dict[str, Any]
    problem: str | None = None


def parse_mapping(spec: str | None) -> dict[str, str]:
    """`ours=theirs,...` (e.g. `external_id=ticket_no,description=body`) as ours → theirs."""
    mapping: dict[str, str] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        ours, sep, theirs = (p.strip() for p in part.partition("="))
        if not sep or not ours or not theirs:
            raise SourceError(f"--map entry {part.strip()!r} is not ours=theirs")
        if ours not in FIELDS:
            raise SourceError(f"--map: unknown field {ours!r}; ours are {', '.join(FIELDS)}")
        mapping[ours] = theirs
    return mapping


def apply_mapping(record: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    """Rename mapped columns to ours; every other column is kept as it is (it becomes metadata)."""
    renamed = {theirs: ours for ours, theirs in mapping.items()}
    result: dict[str, Any] = {}
    for key, value in record.items():
        result[renamed.get(key, key)] = value
    return result


def _open_text(path: Path) -> IO[str]:
    with open(path, "rb") as probe:
        magic = probe.read(2)
    raw = cast(IO[bytes], gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb"))  # noqa: SIM115
    # utf-8-sig: spreadsheet exports often start with a byte-order mark.
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def _is_jsonl(path: Path) -> bool:
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    if suffixes and suffixes[-1] in (".jsonl", ".ndjson"):
        return True
    if suffixes and suffixes[-1] in (".csv", ".tsv"):
        return False
    with _open_text(path) as handle:
        return handle.read(64).lstrip().startswith("{")


def read_rows(path: Path, mapping: Mapping[str, str]) -> Iterator[SourceRow]:
    """Every row, mapped; an unreadable row carries its `problem` instead of fields."""
    if not path.is_file():
        raise SourceError(f"no such file: {path}")
    if _is_jsonl(path):
        yield from _jsonl_rows(path, mapping)
    else:
        yield from _csv_rows(path, mapping)


def _jsonl_rows(path: Path, mapping: Mapping[str, str]) -> Iterator[SourceRow]:
    row = 0
    with _open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            row += 1
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield SourceRow(row, line_number, {}, f"not JSON: {exc.msg}")
                continue
            if not isinstance(record, dict):
                yield SourceRow(row, line_number, {}, "not a JSON object")
                continue
            yield SourceRow(row, line_number, apply_mapping(record, mapping))


def _csv_rows(path: Path, mapping: Mapping[str, str]) -> Iterator[SourceRow]:
    csv.field_size_limit(min(sys.maxsize, 1 << 30))  # long e-mails exceed the 128 kB default
    delimiter = "\t" if path.suffix.lower() == ".tsv" or ".tsv" in path.suffixes else ","
    with _open_text(path) as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        if not reader.fieldnames:
            raise SourceError(f"{path}: empty file, no header row")
        row = 0
        try:
            for record in reader:
                row += 1
                extra = record.pop(None, None)
                if extra:
                    yield SourceRow(row, reader.line_num, {}, f"{len(extra)} values too many")
                    continue
                if any(v is None for v in record.values()):
                    yield SourceRow(row, reader.line_num, {}, "fewer values than columns")
                    continue
                cleaned = {k: v for k, v in record.items() if v != ""}
                yield SourceRow(row, reader.line_num, apply_mapping(cleaned, mapping))
        except csv.Error as exc:
            raise SourceError(f"{path}:{reader.line_num}: unreadable CSV ({exc})") from exc
