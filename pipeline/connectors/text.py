"""Helpdesk bodies as plain text: HTML, Atlassian Document Format, and e-mail replies."""

from __future__ import annotations

import re
import warnings
from typing import Any

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

# Block elements end a line; without this get_text() runs paragraphs together.
_BLOCKS = ("p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre")
_PARAGRAPHS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre")
_BLANK_RUNS = re.compile(r"\n{3,}")
_SPACE_RUNS = re.compile(r"[ \t\u00a0]+")


def tidy(text: str) -> str:
    """Collapse runs of spaces and of blank lines; strip each line."""
    lines = [_SPACE_RUNS.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> str:
    """The readable text of an HTML fragment (scripts and styles dropped, blocks on lines)."""
    if "<" not in html and "&" not in html:
        return tidy(html)
    with warnings.catch_warnings():
        # A short plain string looks like a file name to bs4; it is still just text.
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(html, "html.parser")
    for element in soup(["script", "style", "head", "title"]):
        element.decompose()
    for element in soup.find_all(_BLOCKS):
        element.append("\n\n" if element.name in _PARAGRAPHS else "\n")
    return tidy(soup.get_text())


def adf_to_text(node: Any) -> str:
    """Atlassian Document Format (Jira Cloud rich text) as plain text; a string passes through.

    ADF: https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/
    """
    if node is None:
        return ""
    if isinstance(node, str):
        return tidy(node)
    parts: list[str] = []
    _walk_adf(node, parts)
    return tidy("".join(parts))


_ADF_BLOCKS = {
    "paragraph",
    "heading",
    "blockquote",
    "codeBlock",
    "listItem",
    "tableRow",
    "panel",
    "rule",
    "mediaSingle",
}


# Real documents nest a few levels; a hostile one must not exhaust the stack.
_ADF_MAX_DEPTH = 64


def _walk_adf(node: Any, parts: list[str], depth: int = 0) -> None:
    if depth > _ADF_MAX_DEPTH:
        return
    if isinstance(node, list):
        for child in node:
            _walk_adf(child, parts, depth + 1)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type") if isinstance(node.get("type"), str) else ""
    raw_attrs = node.get("attrs")
    attrs: dict[str, Any] = raw_attrs if isinstance(raw_attrs, dict) else {}
    if kind == "text":
        parts.append(str(node.get("text", "")))
    elif kind == "hardBreak":
        parts.append("\n")
    elif kind == "mention":
        parts.append(str(attrs.get("text") or "@user"))
    elif kind == "emoji":
        parts.append(str(attrs.get("text") or attrs.get("shortName") or ""))
    elif kind in ("inlineCard", "blockCard"):
        parts.append(str(attrs.get("url") or ""))
    if kind == "listItem":
        parts.append("- ")
    _walk_adf(node.get("content"), parts, depth + 1)
    if kind == "tableCell" or kind == "tableHeader":
        parts.append(" ")
    if kind in _ADF_BLOCKS and not (parts and parts[-1].endswith("\n")):
        parts.append("\n")


# "On Mon, 1 Dec 2026 at 10:00, Ann <ann@example.com> wrote:" (may wrap onto two lines).
_ATTRIBUTION = re.compile(r"^\s*(On\s.+|.+\s)wrote:\s*$", re.IGNORECASE)
_ORIGINAL = re.compile(r"^\s*-{2,}\s*(Original Message|Forwarded message)\s*-{2,}", re.IGNORECASE)
_OUTLOOK_FROM = re.compile(r"^\s*From:\s.+", re.IGNORECASE)


def trim_email_reply(text: str) -> str:
    """An e-mail body without the quoted thread ("On ... wrote:", "> ") and the "-- " signature."""
    lines = text.replace("\r\n", "\n").split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        if line.rstrip(" ") == "--" and line.startswith("--"):  # RFC 3676 "-- " delimiter
            break
        if _ORIGINAL.match(line):
            break
        if _ATTRIBUTION.match(line):
            break
        nxt = lines[index + 1] if index + 1 < len(lines) else ""
        if line.strip().startswith("On ") and _ATTRIBUTION.match(f"{line} {nxt}"):
            break
        if _OUTLOOK_FROM.match(line) and kept and not kept[-1].strip():
            # Outlook's "From: ... Sent: ..." block after a blank line starts the quote.
            following = " ".join(lines[index : index + 4])
            if re.search(r"\b(Sent|Date):", following):
                break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return tidy("\n".join(kept))
