"""Postal addresses: pyap for US/CA/GB, street and postcode shapes for DE/AT/CH/FR/ES/IT/NL/PT."""

from __future__ import annotations

import re
from functools import cache
from types import ModuleType

ADDRESS = "address"
TOKEN = "[address]"

_NUMBER = r"\d{1,5}[a-zA-Z]?(?:[-/]\d{1,4}[a-zA-Z]?)?"
_NAME_WORD = r"[A-ZÀ-Þ][\w'\u2019-]*"
_LINK = r"(?:de|del|de la|des|du|di|della|dei|da|do|dos|das|van|von|der|den|la|le|l'|d')"
# Street type after the name, joined ("Schillerstraße 14", "Keizersgracht 12") or apart
# ("Berliner Straße 5", "Oude Laan 3").
_SUFFIX = (
    r"straße|strasse|str\.|weg|gasse|platz|allee|damm|ufer|chaussee"
    r"|straat|laan|gracht|plein|kade|singel|dijk"
)
_SUFFIX_WORD = (
    r"Straße|Strasse|Str\.|Weg|Gasse|Platz|Allee|Damm|Ufer|Chaussee|Straat|Laan|Gracht|Plein|Kade"
)
_STREET_AFTER = re.compile(
    rf"(?<![\w-])(?:[A-ZÀ-Þ][\w'\u2019-]*(?:{_SUFFIX})|{_NAME_WORD}[ \t-](?:{_SUFFIX_WORD}))"
    rf"[ \t]+{_NUMBER}(?![\w])"
)
# Street type before the name: "12 rue de la Paix", "Calle Mayor, 5", "Via Roma 10".
_PREFIX = (
    r"rue|avenue|boulevard|bd|place|allée|chemin|impasse|quai|cours"
    r"|calle|c/|avenida|avda\.|plaza|paseo|camino|carrer|ronda"
    r"|via|viale|piazza|corso|largo|vicolo"
    r"|rua|travessa|praça|alameda|estrada"
)
_STREET_BEFORE = re.compile(
    rf"(?<![\w])(?P<number>{_NUMBER},?[ \t]+)?(?P<type>(?i:{_PREFIX}))[ \t]+(?:{_LINK}[ \t]*)*"
    rf"{_NAME_WORD}(?:[ \t]+(?:{_LINK}[ \t]*)*{_NAME_WORD}){{0,3}}"
    rf"(?P<after>,?[ \t]+(?:n\.?º?[ \t]*)?\d{{1,4}}[a-zA-Z]?(?:[-/]\d{{1,4}})?)?(?![\w])"
)
# Postcode and town after a street: DE/AT/CH/FR/ES/IT (4-5 digits), NL (1234 AB), PT (1234-567).
_TOWN = rf"{_NAME_WORD}(?:[ \t-]+(?:am|an|im|sur|en|de|di)?[ \t-]*{_NAME_WORD}){{0,2}}"
_POSTCODE_TOWN = (
    rf"(?:(?:[A-Z]{{1,2}}-)?\d{{4,5}}|\d{{4}}[ \t]?[A-Z]{{2}}|\d{{4}}-\d{{3}})[ \t]+{_TOWN}"
)
_AFTER_STREET = re.compile(rf"(?:,[ \t]*|[ \t]*\n[ \t]*)(?:{_POSTCODE_TOWN})")
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[ABD-HJLNP-UW-Z]{2}"
# Shapes precise enough alone: a UK postcode, a Portuguese or Dutch postcode with its town.
_ALONE = re.compile(
    rf"(?<![\w-])(?:{_UK_POSTCODE}"
    rf"|\d{{4}}-\d{{3}}[ \t]+{_TOWN}"
    rf"|\d{{4}}[ \t]?(?!MB|GB|KB|TB|PB|HZ|PM|AM)[A-Z]{{2}}[ \t]+{_TOWN})"
    r"(?![\w])"
)
# pyap runs only where its country's postcode shape appears: it costs milliseconds a call,
# and its US rules alone take "40 in tax. The shipping address is definitely in OR" for one.
_GATES = {
    "GB": re.compile(rf"(?<![\w-]){_UK_POSTCODE}(?![\w])"),
    "US": re.compile(r"\b[A-Z]{2},?[ \t]+\d{5}(?:-\d{4})?\b"),
    "CA": re.compile(r"\b[A-Z]\d[A-Z][ \t]?\d[A-Z]\d\b"),
}
# pyap's own clean-up (parser._normalize_string); its match offsets index the cleaned text.
_CLEANUPS = (
    (re.compile(r"\r*(\n\r*)+"), ", "),
    (re.compile(r"\s*(\,\s*)+"), ", "),
    (re.compile(r"\s+"), " "),
)


@cache
def _pyap() -> ModuleType:
    """pyap, imported on first use (it compiles large patterns)."""
    import pyap

    return pyap


def _cleaned(text: str) -> tuple[str, list[int]]:
    """pyap's clean-up of text, with the original offset of every cleaned character."""
    origin = list(range(len(text) + 1))
    for pattern, replacement in _CLEANUPS:
        out: list[str] = []
        where: list[int] = []
        last = 0
        for match in pattern.finditer(text):
            out.append(text[last : match.start()])
            where += origin[last : match.start()]
            out.append(replacement)
            end = match.end() - 1
            where += [origin[min(match.start() + i, end)] for i in range(len(replacement))]
            last = match.end()
        out.append(text[last:])
        where += origin[last:]
        text, origin = "".join(out), where
    return text, origin


def _pyap_spans(text: str) -> list[tuple[int, int]]:
    countries = [country for country, gate in _GATES.items() if gate.search(text)]
    if not countries:
        return []
    clean, origin = _cleaned(text)
    spans: list[tuple[int, int]] = []
    for country in countries:
        for found in _pyap().parse(clean, country=country):
            start, end = _trimmed(text, origin[found.match_start], origin[found.match_end - 1] + 1)
            street = found.street_name or ""
            # pyap also starts inside a word ("SW11 4NQ" read as number 11, street "4NQ ...")
            # or takes any words before a postcode for a street ("my postcode is SW11 4NG").
            numbered = any(c.isdigit() for c in found.street_number or "")
            if numbered and street[:1].isalpha() and not (start and text[start - 1].isalnum()):
                spans.append((start, end))
    return spans


def _numbered(match: re.Match[str]) -> bool:
    """A prefix-typed street with its number: "12 rue ...", "Via Roma 10" (capitalised type)."""
    return bool(
        match.group("number") or (match.group("after") and match.group("type")[0].isupper())
    )


def _street_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for pattern in (_STREET_AFTER, _STREET_BEFORE):
        for match in pattern.finditer(text):
            end = match.end()
            town = _AFTER_STREET.match(text, end)
            if town:
                end = town.end()
            elif pattern is _STREET_BEFORE and not _numbered(match):
                continue  # "via Matter" or "Via Roma" alone is no address
            spans.append((match.start(), end))
    return spans


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without the blanks and commas that pyap keeps around an address."""
    while start < end and text[start] in " \t\n,":
        start += 1
    while end > start and text[end - 1] in " \t\n,.":
        end -= 1
    return start, end


def mask_addresses(text: str) -> tuple[str, bool]:
    """Replace postal addresses (street, number, postcode, town) with [address]."""
    if not any(c.isdigit() for c in text):
        return text, False
    spans = _pyap_spans(text) + _street_spans(text)
    spans += [m.span() for m in _ALONE.finditer(text)]
    if not spans:
        return text, False
    spans = [_trimmed(text, start, end) for start, end in spans]
    out: list[str] = []
    last = 0
    for start, end in sorted(spans):
        if start < last:
            last = max(last, end)
            continue
        out += [text[last:start], TOKEN]
        last = end
    out.append(text[last:])
    return "".join(out), True
