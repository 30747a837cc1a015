"""Fuzzing every parser of outside input we own: connector payloads and signatures, e-mail,
CSV/JSONL backfill rows and helpdesk exports. Anything but our typed errors is a crash.

Bounded for CI (a fixed number of examples each, no deadline: the machine is shared).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.backfill.formats import FORMATS, check_format, read_format_rows
from pipeline.backfill.loader import new_ticket
from pipeline.backfill.sources import SourceError, check_source, read_rows
from pipeline.connectors import CONNECTORS, ConnectorError, Ignored, InboundTicket
from pipeline.domain.lifecycle import Queue
from tests.support.connectors import SECRET, example, signed

FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,  # the same examples on every run: a CI failure reproduces locally
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NOW = datetime.now(UTC)

# JSON values as a producer (or an attacker) can send them: odd numbers, unicode of every
# plane (lone surrogates included: json.loads makes them from \ud800), deep nesting.
TEXT = st.text(alphabet=st.characters(codec=None), max_size=40)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
    | st.sampled_from(["", " ", "0", "1e400", "2024-02-30T25:61:00Z", "0001-01-01T00:00:00+14:00"])
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            TEXT | st.sampled_from(["id", "ticket", "issue", "data"]), children, max_size=4
        )
    ),
    max_leaves=12,
)
HEADER_VALUE = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=80)


def mutate(draw: Callable[[st.SearchStrategy[Any]], Any], value: Any, depth: int = 0) -> Any:
    """The value with some of its parts replaced by arbitrary JSON (the shape mostly kept)."""
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON)
    if isinstance(value, dict) and depth < 8:
        return {k: mutate(draw, v, depth + 1) for k, v in value.items() if draw(st.integers(0, 15))}
    if isinstance(value, list) and depth < 8:
        return [mutate(draw, v, depth + 1) for v in value]
    return value


def sample_body(connector: str) -> Any:
    _, body, _ = example(connector)
    return json.loads(body)


def check_event(event: object) -> None:
    """What a parser may return: a ticket that validates, or an Ignored with a reason."""
    assert isinstance(event, InboundTicket | Ignored), event
    if isinstance(event, InboundTicket):
        json.dumps(event.submission.model_dump(mode="json"))  # storable, fingerprintable


JSON_CONNECTORS = [name for name in CONNECTORS if name != "email"]


@pytest.mark.parametrize("connector", JSON_CONNECTORS)
@FUZZ
@given(data=st.data())
def test_json_connector_payloads_map_or_raise_our_errors(
    connector: str, data: st.DataObject
) -> None:
    headers, _, _ = example(connector)
    body = json.dumps(mutate(data.draw, sample_body(connector))).encode()
    with contextlib.suppress(ConnectorError):
        check_event(CONNECTORS[connector].parse(headers, body))


@pytest.mark.parametrize("connector", list(CONNECTORS))
@FUZZ
@given(body=st.binary(max_size=600))
def test_any_bytes_to_any_connector_raise_only_our_errors(connector: str, body: bytes) -> None:
    headers, _, _ = example(connector)
    with contextlib.suppress(ConnectorError):
        check_event(CONNECTORS[connector].parse(headers, body))


@pytest.mark.parametrize("connector", list(CONNECTORS))
@FUZZ
@given(data=st.data())
def test_signature_headers_verify_or_raise_our_errors(connector: str, data: st.DataObject) -> None:
    _, body, _ = example(connector)
    genuine = signed(connector, body)
    # Each signature header: kept, dropped, or replaced by arbitrary (latin-1) text.
    headers = {}
    for name, value in genuine.items():
        choice = data.draw(st.integers(0, 2))
        if choice == 1:
            headers[name] = data.draw(HEADER_VALUE)
        elif choice == 2:
            headers[name] = value
    headers.update(
        data.draw(
            st.dictionaries(
                st.sampled_from([*list(genuine), "Authorization"]), HEADER_VALUE, max_size=2
            )
        )
    )
    with contextlib.suppress(ConnectorError):
        CONNECTORS[connector].verify(headers, body, [SECRET], NOW, timedelta(minutes=5))


EMAIL_HEADERS = ["From", "To", "Subject", "Message-ID", "Date", "Content-Type",
                 "Content-Transfer-Encoding", "In-Reply-To", "Auto-Submitted", "Precedence",
                 "X-Priority", "Importance", "MIME-Version"]  # fmt: skip
EMAIL_VALUES = HEADER_VALUE | st.sampled_from([
    "multipart/alternative; boundary=\"b\"", "text/html; charset=x-unknown", "base64",
    "quoted-printable", "<a@b>", "=?utf-8?b?////?=", "=?x-bogus?q?=FF?=", "Mon, 99 Foo 0000",
    "\"\" <>", "a@", "<@>", "urgent", "1",
])  # fmt: skip


@st.composite
def emails(draw: Callable[[st.SearchStrategy[Any]], Any]) -> bytes:
    """RFC 822-ish messages: real header names, hostile values, a body, maybe MIME parts."""
    lines = [
        f"{name}: {draw(EMAIL_VALUES)}"
        for name in draw(st.lists(st.sampled_from(EMAIL_HEADERS), max_size=10))
    ]
    body = draw(st.binary(max_size=200))
    if draw(st.booleans()):
        part = draw(st.sampled_from(["text/plain", "text/html", "application/octet-stream"]))
        body = b"--b\r\nContent-Type: " + part.encode() + b"\r\n\r\n" + body + b"\r\n--b--\r\n"
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body


@FUZZ
@given(message=emails())
def test_emails_map_or_raise_our_errors(message: bytes) -> None:
    with contextlib.suppress(ConnectorError):
        check_event(CONNECTORS["email"].parse({}, message))


def store_rows(rows: list[Any]) -> None:
    """Every readable row goes through the loader's validation: a reason, never a crash."""
    for row in rows:
        if row.problem is not None:
            continue
        # ValueError: the loader's reject, written to the reject file with this reason.
        with contextlib.suppress(ValueError):
            new_ticket(row.fields, source="backfill", job_id=None, deliver=False,
                       queue=Queue.backfill, max_metadata_bytes=16_384)  # fmt: skip


def fuzz_file(content: bytes, suffix: str) -> Path:
    handle = tempfile.NamedTemporaryFile(suffix=suffix, delete=False)  # noqa: SIM115
    with handle:
        handle.write(content)
    return Path(handle.name)


CSV_HEADER = b"subject,description,customer_id,priority,created_at,external_id,category,extra\n"
CELL = st.binary(max_size=30) | st.sampled_from(
    [b'"', b'""', b"\xef\xbb\xbf", b"\r", b"\x00", b"1e400", b"NaN", b"0", b"\xff\xfe"]
)


@FUZZ
@given(cells=st.lists(st.lists(CELL, max_size=9), max_size=6), header=st.booleans())
def test_csv_backfill_rows_are_rows_rejects_or_a_source_error(
    cells: list[list[bytes]], header: bool
) -> None:
    content = (CSV_HEADER if header else b"") + b"\n".join(b",".join(row) for row in cells)
    path = fuzz_file(content, ".csv")
    try:
        check_source(path, {})  # what `triage backfill` asks first
        store_rows(list(read_rows(path, {})))
    except SourceError:
        pass
    finally:
        path.unlink()


@FUZZ
@given(records=st.lists(JSON | st.binary(max_size=40), max_size=6))
def test_jsonl_backfill_rows_are_rows_rejects_or_a_source_error(records: list[Any]) -> None:
    lines = [r if isinstance(r, bytes) else json.dumps(r).encode() for r in records]
    path = fuzz_file(b"\n".join(lines), ".jsonl")
    try:
        check_source(path, {})
        store_rows(list(read_rows(path, {})))
    except SourceError:
        pass
    finally:
        path.unlink()


EXPORTS = Path(__file__).resolve().parents[1] / "fixtures" / "connectors" / "exports"


def export_item(fmt: str) -> Any:
    """The first ticket of the bundled export of this format."""
    name = {"zendesk": "zendesk_incremental.json", "github": "github_issues.json"}[fmt]
    document = json.loads((EXPORTS / name).read_text())
    return document["tickets"][0] if fmt == "zendesk" else document[0]


@pytest.mark.parametrize("fmt", FORMATS)
@FUZZ
@given(data=st.data())
def test_helpdesk_exports_are_rows_rejects_or_a_source_error(fmt: str, data: st.DataObject) -> None:
    if fmt in ("freshdesk", "jira"):  # CSV exports: their columns, hostile cells
        csv_name = {"freshdesk": "freshdesk_export.csv", "jira": "jira_export.csv"}[fmt]
        columns = (EXPORTS / csv_name).read_bytes().splitlines()[0]
        cells = data.draw(st.lists(st.lists(CELL, max_size=7), max_size=5))
        content = columns + b"\n" + b"\n".join(b",".join(row) for row in cells)
        suffix = ".csv"
    else:
        item = mutate(data.draw, export_item(fmt))
        document = data.draw(st.sampled_from(["list", "tickets", "lines", "raw"]))
        if document == "list":
            content = json.dumps([item, data.draw(JSON)]).encode()
        elif document == "tickets":
            content = json.dumps({"tickets": [item]}).encode()
        elif document == "lines":
            content = json.dumps(item).encode() + b"\n" + json.dumps(data.draw(JSON)).encode()
        else:
            content = data.draw(st.binary(max_size=300))
        suffix = ".json"
    path = fuzz_file(content, suffix)
    try:
        check_format(path, fmt)
        store_rows(list(read_format_rows(path, fmt)))
    except SourceError:
        pass
    finally:
        path.unlink()
