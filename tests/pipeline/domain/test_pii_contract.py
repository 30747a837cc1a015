"""PII masking at its edges: the lookarounds, the IBAN's groups, the phone cue words.

What leaves for an LLM must not carry a customer's e-mail, IBAN, card or phone number; and a
masker that eats order numbers, dates or product codes makes the classifier blind.
"""

from __future__ import annotations

import pytest

from pipeline.domain.pii import luhn_ok, mask_pii

CARD = "4111 1111 1111 1111"  # a Luhn-valid test card


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to ann.lee+shop@mail.example.co.uk now", "write to [email] now"),
        ("x-ann@mail.example.com", "[email]"),  # the local part may hold `-`
        ("ann@example.com.", "[email]."),  # a full stop after it is not part of it
        ("ann@example.c", "ann@example.c"),  # a one-letter top-level domain is no address
        ("ann@example.com-x", "ann@example.com-x"),  # not followed by a word character or `-`
    ],
)
def test_email_edges(text: str, expected: str) -> None:
    assert mask_pii(text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("IBAN DE89 3704 0044 0532 0130 00 please", "IBAN [iban] please"),
        ("IBAN DE89370400440532013000 please", "IBAN [iban] please"),
        ("iban gb82 west 1234 5698 7654 32", "iban [iban]"),  # case-insensitive
        ("NO93 8601 1117 947", "[iban]"),  # Norway: 15 characters, the shortest
        ("MT84 MALT 0110 0001 2345 MTLC AST0 01S", "[iban]"),  # 31 characters, letters too
    ],
)
def test_ibans_in_groups_of_four_are_masked(text: str, expected: str) -> None:
    masked, kinds = mask_pii(text)
    assert masked == expected and "iban" in kinds


@pytest.mark.parametrize(
    "text",
    [
        "XDE89 3704 0044 0532 0130 00",  # glued to a word: not an IBAN start
        "DE89 3704",  # too few groups
        "AB12 CDEF GHIJ KLMN",  # product code: letters, under ten digits
        "order SKU12ABCD3456EFGH",
    ],
)
def test_iban_lookalikes_are_left(text: str) -> None:
    assert "[iban]" not in mask_pii(text)[0]


def test_cards_are_masked_by_luhn_and_only_the_card() -> None:
    assert mask_pii(f"card {CARD} expires")[0] == "card [card] expires"
    assert mask_pii("card 4111-1111-1111-1111")[0] == "card [card]"
    assert mask_pii("order 12 card 4111111111111111 ok")[0] == "order 12 card [card] ok"
    assert mask_pii("4111 1111 1111 1112")[0] == "4111 1111 1111 1112"  # fails Luhn
    assert mask_pii("x4111111111111111")[0] == "x4111111111111111"  # glued to a word
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")
    assert luhn_ok("0") and luhn_ok("18") and not luhn_ok("19")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call +49 171 2345678 today", "call [phone] today"),
        ("ring 0044 20 7946 0958", "ring [phone]"),
        ("(555) 123-4567", "[phone]"),
        ("030 1234567", "[phone]"),
        ("01712345678", "[phone]"),
        ("555-123-4567", "[phone]"),
        ("phone: 5551234567", "phone: [phone]"),
        ("mobile 5551234567", "mobile [phone]"),
        ("WhatsApp me on 5551234567", "WhatsApp me on [phone]"),
    ],
)
def test_phones_are_masked(text: str, expected: str) -> None:
    masked, kinds = mask_pii(text)
    assert masked == expected and "phone" in kinds


@pytest.mark.parametrize(
    "text",
    [
        "order 5551234567 is late",  # a bare digit run without a phone word is an id
        "order number: 030 1234567",  # labelled as an identifier
        "invoice #0301234567",
        "on 2024-03-05 it broke",  # a date
        "server 192.168.100.200 down",  # an IP address
        "code 0301",  # too short
        "x+49 171 2345678",  # glued to a word
    ],
)
def test_phone_lookalikes_are_left(text: str) -> None:
    assert "[phone]" not in mask_pii(text)[0]


def test_the_kinds_found_are_reported_and_only_those() -> None:
    assert mask_pii("nothing personal here")[1] == set()
    text = f"ann@example.com, DE89 3704 0044 0532 0130 00, {CARD}, call +49 171 2345678"
    masked, kinds = mask_pii(text)
    assert masked == "[email], [iban], [card], call [phone]"
    assert kinds == {"email", "iban", "card", "phone"}


def iban(length: int, digits: int) -> str:
    """A compact IBAN-shaped run of `length` characters holding `digits` digits."""
    body = "1" * (digits - 2) + "A" * (length - digits - 2)
    return "DE12" + body[: length - 4]


@pytest.mark.parametrize(
    ("length", "digits", "masked"),
    [
        (34, 12, True),  # the longest IBAN there is
        (35, 12, False),
        (15, 10, True),  # the shortest, with the fewest digits an account carries
        (20, 10, True),
        (20, 9, False),
    ],
)
def test_iban_length_and_digit_bounds(length: int, digits: int, masked: bool) -> None:
    candidate = iban(length, digits)
    assert len(candidate) == length and sum(c.isdigit() for c in candidate) == digits
    assert (mask_pii(f"pay {candidate}.")[0] == "pay [iban].") is masked
