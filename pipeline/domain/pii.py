"""Mask personal data (e-mail, phone, card, IBAN, name, address) before text leaves (pure)."""

from __future__ import annotations

import re
from collections.abc import Callable

from pipeline.domain.pii_addresses import ADDRESS, mask_addresses
from pipeline.domain.pii_names import NAME, mask_names

EMAIL, PHONE, CARD, IBAN = "email", "phone", "card", "iban"
__all__ = ["ADDRESS", "CARD", "EMAIL", "IBAN", "NAME", "PHONE", "luhn_ok", "mask_pii"]

_EMAIL = re.compile(
    r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})*\.[^\W\d_]{2,24}(?![\w-])"
)

# Country code, check digits, then the account in groups of four (spaced or not).
_IBAN = re.compile(
    r"(?<![\w])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![\w])", re.IGNORECASE
)

# Runs of digits joined by single spaces or dashes: candidates for card numbers.
_DIGIT_RUN = re.compile(r"(?<![\w])\d+(?:[ -]\d+)*(?![\w])")

_SEP = r"[ .\-/]?"
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    rf"(?:\+|00)[1-9]\d{{0,2}}(?:{_SEP}\(?\d{{1,5}}\)?){{1,6}}"  # +49 171 2345678, 0044 20 ..
    rf"|\(\d{{2,5}}\){_SEP}\d{{3,4}}{_SEP}\d{{3,5}}"  # (555) 123-4567, (030) 1234567
    rf"|0\d{{1,4}}(?:{_SEP}\d{{2,8}}){{1,4}}"  # national trunk 0: 030 1234567, 06 12 34 56 78
    r"|0\d{8,11}"  # 01712345678
    r"|\d{3}[.\- ]\d{3}[.\- ]\d{4}"  # 555-123-4567
    r"|[1-9]\d{9,14}"  # 5551234567: a phone only after a phone word (see _PHONE_CUE)
    r")(?![\w])"
)
_PHONE_CUE = re.compile(
    r"(?:phone|tel|telephone|mobile|cell|call|text|sms|whatsapp|fax|reach)\b[^\d\n]{0,20}$",
    re.IGNORECASE,
)
# An identifier the customer labelled as such is not a phone number.
_ID_LABEL = re.compile(
    r"(?:\b(?:order|invoice|ticket|ref|reference|case|tracking|account|customer|contract|id)"
    r"\s{0,3}(?:number|no\.?|nr\.?|num\.?)?\s{0,3}[:#]?|#)\s{0,3}$",
    re.IGNORECASE,
)
_DATE = re.compile(r"^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})$")
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum that every payment card number satisfies."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _mask_iban(match: re.Match[str]) -> str:
    compact = match.group().replace(" ", "")
    # Words and product codes rarely carry ten digits; accounts always do.
    if 15 <= len(compact) <= 34 and sum(c.isdigit() for c in compact) >= 10:
        return "[iban]"
    return match.group()


def _card_spans(groups: list[str]) -> list[tuple[int, int]]:
    """Non-overlapping runs of whole groups, 13-19 digits passing Luhn; widest first, leftmost."""
    spans: list[tuple[int, int]] = []
    free = 0  # the first group no card found so far holds
    for start in range(len(groups)):
        if start < free:
            continue
        widest: int | None = None
        digits = ""
        for end in range(start, len(groups)):
            digits += groups[end]
            if len(digits) > 19:
                break
            if len(digits) >= 13 and luhn_ok(digits):
                widest = end
        if widest is not None:
            spans.append((start, widest))
            free = widest + 1
    return spans


def _mask_card(match: re.Match[str]) -> str:
    parts = re.split(r"([ -])", match.group())
    groups, seps = parts[0::2], parts[1::2]
    card_of = {i: start for start, end in _card_spans(groups) for i in range(start, end + 1)}
    out = ["[card]" if 0 in card_of else groups[0]]
    for i in range(1, len(groups)):
        if i in card_of and card_of.get(i - 1) == card_of[i]:
            continue  # the rest of a card already written as [card]
        out.append(seps[i - 1])
        out.append("[card]" if i in card_of else groups[i])
    return "".join(out)


def _mask_phones(text: str) -> tuple[str, bool]:
    out: list[str] = []
    last = 0
    masked = False
    for match in _PHONE.finditer(text):
        candidate = match.group()
        # Short runs are order numbers, amounts, codes: a phone number has 8 (9 without a
        # country code) to 15 digits, not counting the 00 that dials out as + does.
        digits = sum(c.isdigit() for c in candidate.removeprefix("00"))
        plausible = (8 if candidate.startswith(("+", "00")) else 9) <= digits <= 15
        # Cue and label each span at most 30 characters: a 40-character window sees them whole.
        before = text[max(0, match.start() - 40) : match.start()]
        cue = _PHONE_CUE.search(before)
        labelled = not cue and _ID_LABEL.search(before)
        if candidate.isdigit() and not candidate.startswith("0") and not cue:
            continue  # a bare digit run is an id unless the customer calls it a phone number
        if not plausible or labelled or _DATE.match(candidate) or _IPV4.match(candidate):
            continue
        out.append(text[last : match.start()])
        out.append("[phone]")
        last = match.end()
        masked = True
    out.append(text[last:])
    return "".join(out), masked


def mask_pii(text: str) -> tuple[str, set[str]]:
    """Replace personal data with [email]/[iban]/[card]/[phone]/[address]/[name]; and the kinds."""
    kinds: set[str] = set()
    # Order matters: e-mails and IBANs contain digits that the card and phone rules would split.
    steps: list[tuple[str, re.Pattern[str], Callable[[re.Match[str]], str]]] = [
        (EMAIL, _EMAIL, lambda _match: "[email]"),
        (IBAN, _IBAN, _mask_iban),
        (CARD, _DIGIT_RUN, _mask_card),
    ]
    for kind, pattern, replace in steps:
        new = pattern.sub(replace, text)
        if new != text:
            kinds.add(kind)
            text = new
    text, phones = _mask_phones(text)
    if phones:
        kinds.add(PHONE)
    # Addresses before names: "12 Baker Street" is an address, not Mr Baker.
    for kind, mask in ((ADDRESS, mask_addresses), (NAME, mask_names)):
        text, found = mask(text)
        if found:
            kinds.add(kind)
    return text, kinds
