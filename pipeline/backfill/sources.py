"""Reading ticket rows from CSV or JSONL (gzip accepted), with a column mapping, streaming."""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from pipeline.domain.errors import TriageError
from pipeline.domain.models import TicketSubmission

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


# What a row needs to be stored (TicketSubmission's required fields), after --map.
REQUIRED = tuple(
    name for name, field in TicketSubmission.model_fields.items() if field.is_required()
)
# JSON lines carry their own keys: the columns are those of the first few objects.
JSONL_SAMPLE = 100


# What reading a file as (gzipped) UTF-8 text raises when it is not that.
UNREADABLE = (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile, zlib.error)


class SourceError(TriageError):
    """The file or the mapping cannot be used at all (not one bad row: that is a reject)."""


@dataclass(frozen=True)
class SourceRow:
    """One input record: 1-based row number, physical line, fields, or why it is unreadable."""

    row: int
    line: int
    fields: dict[str, Any]
    problem: str | None = None
    offset: int = 0  # bytes of the file read by then (for progress; read-ahead included)


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


class _Source:
    """A file opened as text (gzip by its magic bytes), and how far into it reading got."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        magic = self._file.read(2)
        self._file.seek(0)
        raw: IO[bytes] = (
            cast(IO[bytes], gzip.GzipFile(fileobj=self._file, mode="rb"))
            if magic == b"\x1f\x8b"
            else self._file
        )
        # utf-8-sig: spreadsheet exports often start with a byte-order mark.
        self.text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")

    def offset(self) -> int:
        """Bytes of the file on disk read so far (compressed bytes for gzip; read-ahead incl.)."""
        return 0 if self._file.closed else self._file.tell()

    def __enter__(self) -> _Source:
        return self

    def __exit__(self, *_: object) -> None:
        self.text.close()
        self._file.close()  # GzipFile does not close a file object it was given


def _is_jsonl(path: Path) -> bool:
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    if suffixes and suffixes[-1] in (".jsonl", ".ndjson"):
        return True
    if suffixes and suffixes[-1] in (".csv", ".tsv"):
        return False
    with _Source(path) as source:
        return source.text.read(64).lstrip().startswith("{")


def source_size(path: Path) -> int:
    """The file's size on disk: what SourceRow.offset counts towards."""
    return path.stat().st_size


def check_source(path: Path, mapping: Mapping[str, str]) -> None:
    """Refuse at once a file that is missing, or whose columns give no required field.

    Only the header (CSV) or the first JSON object is read, so a job is never created for a
    file every row of which would be rejected. The message is the one `triage train` gives.
    """
    if not path.exists():
        raise SourceError(f"{path} does not exist")
    if not path.is_file():
        raise SourceError(f"{path} is not a file")
    try:
        columns = _first_columns(path)
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile, csv.Error) as exc:
        raise SourceError(f"{path}: cannot read ({exc})") from exc
    if columns is None:
        return  # no record at all: nothing to reject, the run stores nothing
    names = {ours: mapping.get(ours, ours) for ours in REQUIRED}
    missing = [f"{names[field]!r}" for field in REQUIRED if names[field] not in columns]
    if missing:
        found = ", ".join(map(repr, columns[:12]))
        raise SourceError(
            f"{path}: column {' and '.join(missing)} not found (columns: {found}); "
            "rename with --map ours=theirs"
        )


def _first_columns(path: Path) -> list[str] | None:
    """The CSV header, or the keys of the first JSON object (None: no record)."""
    with _Source(path) as source:
        if _is_jsonl(path):
            columns: dict[str, None] = {}
            seen = 0
            for line in source.text:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a bad line is a reject; the columns come from good ones
                if isinstance(record, dict):
                    columns.update(dict.fromkeys(record))
                    seen += 1
                    if seen >= JSONL_SAMPLE:
                        break
            return list(columns) if seen else None
        delimiter = "\t" if _is_tsv(path) else ","
        header = next(csv.reader(source.text, delimiter=delimiter), None)
        if not header:
            raise SourceError(f"{path}: empty file, no header row")
        return header


def _is_tsv(path: Path) -> bool:
    return path.suffix.lower() == ".tsv" or ".tsv" in [s.lower() for s in path.suffixes]


def read_rows(path: Path, mapping: Mapping[str, str]) -> Iterator[SourceRow]:
    """Every row, mapped; an unreadable row carries its `problem` instead of fields."""
    if not path.is_file():
        raise SourceError(f"{path} does not exist")
    try:
        if _is_jsonl(path):
            yield from _jsonl_rows(path, mapping)
        else:
            yield from _csv_rows(path, mapping)
    except UNREADABLE as exc:  # not UTF-8, a broken gzip stream: the file, not a row
        raise SourceError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None


def _jsonl_rows(path: Path, mapping: Mapping[str, str]) -> Iterator[SourceRow]:
    row = 0
    with _Source(path) as source:
        for line_number, line in enumerate(source.text, start=1):
            if not line.strip():
                continue
            row += 1
            offset = source.offset()
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield SourceRow(row, line_number, {}, f"not JSON: {exc.msg}", offset)
                continue
            if not isinstance(record, dict):
                yield SourceRow(row, line_number, {}, "not a JSON object", offset)
                continue
            yield SourceRow(row, line_number, apply_mapping(record, mapping), offset=offset)


def _csv_rows(path: Path, mapping: Mapping[str, str]) -> Iterator[SourceRow]:
    csv.field_size_limit(min(sys.maxsize, 1 << 30))  # long e-mails exceed the 128 kB default
    delimiter = "\t" if _is_tsv(path) else ","
    with _Source(path) as source:
        reader = csv.DictReader(source.text, delimiter=delimiter)
        if not reader.fieldnames:
            raise SourceError(f"{path}: empty file, no header row")
        row = 0
        try:
            for record in reader:
                row += 1
                line, offset = reader.line_num, source.offset()
                extra = record.pop(None, None)
                if extra:
                    yield SourceRow(row, line, {}, f"{len(extra)} values too many", offset)
                    continue
                if any(v is None for v in record.values()):
                    yield SourceRow(row, line, {}, "fewer values than columns", offset)
                    continue
                cleaned = {k: v for k, v in record.items() if v != ""}
                yield SourceRow(row, line, apply_mapping(cleaned, mapping), offset=offset)
        except csv.Error as exc:
            raise SourceError(f"{path}:{reader.line_num}: unreadable CSV ({exc})") from exc
