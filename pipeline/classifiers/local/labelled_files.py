"""Labelled tickets from files: CSV, TSV, JSONL or a JSON array, optionally gzipped."""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.classifiers.local.labelled_examples import LabelledExample
from pipeline.classifiers.local.sentiment import normalise_sentiment
from pipeline.classifiers.local.urgency import normalise_urgency

COLUMNS = ("description", "category", "subject", "urgency", "sentiment")
REQUIRED = ("description", "category")


class LabelledFileError(ValueError):
    """The file cannot be read as labelled tickets (missing, malformed, columns absent)."""


@dataclass
class LabelledFile:
    """The examples read from a file, and what had to be left out."""

    examples: list[LabelledExample]
    skipped_rows: int = 0
    unknown_urgency: int = 0


def parse_column_map(spec: str | None) -> dict[str, str]:
    """`ours=theirs,...` (e.g. `description=body,category=label`) as a dict."""
    mapping: dict[str, str] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        ours, sep, theirs = part.partition("=")
        ours, theirs = ours.strip(), theirs.strip()
        if not sep or not theirs:
            raise LabelledFileError(f"--map entry {part.strip()!r} is not ours=theirs")
        if ours not in COLUMNS:
            raise LabelledFileError(
                f"--map: unknown column {ours!r}; ours are {', '.join(COLUMNS)}"
            )
        mapping[ours] = theirs
    return mapping


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":  # gzip, whatever the file is called
        data = gzip.decompress(data)
    # utf-8-sig: spreadsheet exports often start with a byte-order mark.
    return data.decode("utf-8-sig")


def _kind(path: Path, first_char: str) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    suffix = suffixes[-1] if suffixes else ""
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix in (".csv", ".tsv", ".json"):
        return suffix[1:]
    return "jsonl" if first_char == "{" else "json" if first_char == "[" else "csv"


def _records(path: Path) -> Iterator[Mapping[str, Any]]:
    """Every record of the file, as a mapping from column name to value."""
    content = _read_text(path)
    kind = _kind(path, content.lstrip()[:1])
    if kind == "jsonl":
        for number, line in enumerate(content.splitlines(), start=1):
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise LabelledFileError(f"{path}:{number}: not JSON ({exc.msg})") from exc
                if not isinstance(record, dict):
                    raise LabelledFileError(f"{path}:{number}: a JSON object per line expected")
                yield record
    elif kind == "json":
        records = json.loads(content)
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise LabelledFileError(f"{path}: a JSON array of objects expected")
        yield from records
    else:
        csv.field_size_limit(min(sys.maxsize, 1 << 30))  # long e-mails exceed the 128 kB default
        delimiter = "\t" if kind == "tsv" else ","
        reader = csv.DictReader(io.StringIO(content, newline=""), delimiter=delimiter)
        if not reader.fieldnames:
            raise LabelledFileError(f"{path}: empty file, no header row")
        yield from reader


def read_labelled_file(path: Path, column_map: Mapping[str, str] | None = None) -> LabelledFile:
    """Labelled examples from a file; rows without text or label are skipped and counted."""
    names = {ours: (column_map or {}).get(ours, ours) for ours in COLUMNS}
    if not path.is_file():
        raise LabelledFileError(f"no such file: {path}")
    result = LabelledFile(examples=[])
    try:
        first = True
        for record in _records(path):
            if first:
                missing = [f"{names[c]!r}" for c in REQUIRED if names[c] not in record]
                if missing:
                    found = ", ".join(map(repr, list(record)[:12]))
                    raise LabelledFileError(
                        f"{path}: column {' and '.join(missing)} not found (columns: {found}); "
                        "rename with --map ours=theirs"
                    )
                first = False
            example = _example(record, names)
            if example is None:
                result.skipped_rows += 1
                continue
            if record.get(names["urgency"]) not in (None, "") and example.urgency is None:
                result.unknown_urgency += 1
            result.examples.append(example)
    except (json.JSONDecodeError, csv.Error, UnicodeDecodeError, gzip.BadGzipFile, EOFError) as exc:
        raise LabelledFileError(f"{path}: cannot parse ({exc})") from exc
    except OSError as exc:
        raise LabelledFileError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if not result.examples:
        raise LabelledFileError(f"{path}: no labelled rows")
    return result


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _example(record: Mapping[str, Any], names: Mapping[str, str]) -> LabelledExample | None:
    description = _text(record.get(names["description"]))
    category = _text(record.get(names["category"]))
    if not description or not category:
        return None
    return LabelledExample(
        description=description,
        category=category,
        subject=_text(record.get(names["subject"])),
        urgency=normalise_urgency(record.get(names["urgency"])),
        sentiment=normalise_sentiment(record.get(names["sentiment"])),
    )
