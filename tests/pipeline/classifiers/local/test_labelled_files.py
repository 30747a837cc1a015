"""Reading labelled tickets from CSV, TSV, JSONL and JSON, gzipped or not, with a column map."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from pipeline.classifiers.local.labelled_files import (
    LabelledFileError,
    parse_column_map,
    read_labelled_file,
)
from pipeline.domain.classification import Urgency

ROWS = [
    {"body": "I was charged twice", "label": "billing", "title": "Charge", "prio": "High"},
    {"body": "Where is my parcel?", "label": "shipping", "title": "", "prio": "P1"},
    {"body": "", "label": "billing", "title": "empty body", "prio": ""},
    {"body": "Reset my password", "label": "account", "title": "Login", "prio": "whenever"},
]
MAP = "description=body,category=label,subject=title,urgency=prio"


def write_csv(path: Path, rows: list[dict[str, str]], delimiter: str = ",") -> None:
    lines = [delimiter.join(rows[0])]
    lines += [delimiter.join(f'"{v}"' for v in row.values()) for row in rows]
    path.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")  # with a BOM


def test_csv_with_a_column_map(tmp_path: Path) -> None:
    path = tmp_path / "tickets.csv"
    write_csv(path, ROWS)
    read = read_labelled_file(path, parse_column_map(MAP))
    assert [e.category for e in read.examples] == ["billing", "shipping", "account"]
    assert read.examples[0].subject == "Charge"
    assert [e.urgency for e in read.examples] == [Urgency.high, Urgency.critical, None]
    assert read.skipped_rows == 1
    assert read.unknown_urgency == 1


def test_gzipped_jsonl_tsv_and_json_array(tmp_path: Path) -> None:
    jsonl = tmp_path / "t.jsonl.gz"
    with gzip.open(jsonl, "wt", encoding="utf-8") as out:
        out.writelines(json.dumps(row) + "\n" for row in ROWS)
    tsv = tmp_path / "t.tsv"
    write_csv(tsv, ROWS, delimiter="\t")
    array = tmp_path / "t.json"
    array.write_text(json.dumps(ROWS), encoding="utf-8")
    for path in (jsonl, tsv, array):
        read = read_labelled_file(path, parse_column_map(MAP))
        assert [e.description for e in read.examples][:2] == [
            "I was charged twice",
            "Where is my parcel?",
        ], path


def test_our_column_names_need_no_map(tmp_path: Path) -> None:
    path = tmp_path / "plain"  # no suffix: sniffed as JSONL
    path.write_text('{"description": "Refund please", "category": 3}\n', encoding="utf-8")
    assert read_labelled_file(path).examples[0].category == "3"


def test_missing_column_names_what_exists(tmp_path: Path) -> None:
    path = tmp_path / "tickets.csv"
    write_csv(path, ROWS)
    with pytest.raises(LabelledFileError, match=r"'description'.*'body'"):
        read_labelled_file(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no header row"),
        (b'{"description": "x", "category": "y"}\n{not json\n', r":2: not JSON"),
        (b"description,category\n,\n", "no labelled rows"),
    ],
)
def test_unreadable_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / ("t.jsonl" if content.startswith(b"{") else "t.csv")
    path.write_bytes(content)
    with pytest.raises(LabelledFileError, match=message):
        read_labelled_file(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LabelledFileError, match="no such file"):
        read_labelled_file(tmp_path / "absent.csv")


@pytest.mark.parametrize("spec", ["description", "body=description=x,=y", "text=body"])
def test_bad_column_maps(spec: str) -> None:
    with pytest.raises(LabelledFileError):
        parse_column_map(spec)
