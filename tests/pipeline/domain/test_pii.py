"""PII masking: e-mail, phone, card (Luhn), IBAN are masked; order numbers and dates are not."""

from __future__ import annotations

import pytest

from pipeline.domain.pii import luhn_ok, mask_pii


@pytest.mark.parametrize(
    ("text", "expected", "kinds"),
    [
        # e-mail
        ("mail john.doe+tag@example.co.uk now", "mail [email] now", {"email"}),
        ("a@b.io", "[email]", {"email"}),
        ("Jürgen.Müller@firma.de wrote", "[email] wrote", {"email"}),
        ("two: a.b@x.org, c_d@y.com.", "two: [email], [email].", {"email"}),
        # international phones
        ("call +49 171 2345678 today", "call [phone] today", {"phone"}),
        ("+1 (555) 123-4567", "[phone]", {"phone"}),
        ("+44 20 7946 0958", "[phone]", {"phone"}),
        ("0044 20 7946 0958", "[phone]", {"phone"}),
        ("+33 6 12 34 56 78", "[phone]", {"phone"}),
        ("+49 (0) 171 2345678", "[phone]", {"phone"}),
        ("+4917123456789", "[phone]", {"phone"}),
        ("+49-30-1234567", "[phone]", {"phone"}),
        # local phones
        ("tel 030 1234567", "tel [phone]", {"phone"}),
        ("0171 2345678", "[phone]", {"phone"}),
        ("06 12 34 56 78", "[phone]", {"phone"}),
        ("06.12.34.56.78", "[phone]", {"phone"}),
        ("020 7946 0958", "[phone]", {"phone"}),
        ("01712345678", "[phone]", {"phone"}),
        ("555-123-4567", "[phone]", {"phone"}),
        ("(555) 123-4567", "[phone]", {"phone"}),
        ("555.123.4567", "[phone]", {"phone"}),
        ("call me on 5551234567", "call me on [phone]", {"phone"}),
        ("Tel. No.: 030 1234567", "Tel. No.: [phone]", {"phone"}),
        ("I paid, reach me at 0171 2345678", "I paid, reach me at [phone]", {"phone"}),
        # cards (Luhn-valid)
        ("card 4111 1111 1111 1111 exp 12/26", "card [card] exp 12/26", {"card"}),
        ("4111-1111-1111-1111", "[card]", {"card"}),
        ("4111111111111111", "[card]", {"card"}),
        ("amex 3782 822463 10005", "amex [card]", {"card"}),
        ("visa13 4222222222222", "visa13 [card]", {"card"}),
        ("5500 0000 0000 0004 then 2024", "[card] then 2024", {"card"}),
        ("4111 1111 1111 1111 2024", "[card] 2024", {"card"}),
        # IBANs
        ("IBAN DE89 3704 0044 0532 0130 00 please", "IBAN [iban] please", {"iban"}),
        ("DE89370400440532013000", "[iban]", {"iban"}),
        ("de89 3704 0044 0532 0130 00", "[iban]", {"iban"}),
        ("GB29 NWBK 6016 1331 9268 19", "[iban]", {"iban"}),
        ("FR14 2004 1010 0505 0001 3M02 606.", "[iban].", {"iban"}),
        # several kinds at once
        (
            "x@y.com, +49 171 2345678, 4111 1111 1111 1111, DE89 3704 0044 0532 0130 00",
            "[email], [phone], [card], [iban]",
            {"email", "phone", "card", "iban"},
        ),
    ],
)
def test_masks(text: str, expected: str, kinds: set[str]) -> None:
    assert mask_pii(text) == (expected, kinds)


@pytest.mark.parametrize(
    "text",
    [
        "order 123456 arrived broken",
        "order #0123456789",
        "order no. 0171 2345678",
        "invoice 98765432",
        "ticket 5551234567",
        "my customer id: 0123456789",
        "5551234567",  # a bare digit run is an id unless called a phone
        "4111 1111 1111 1112",  # fails Luhn
        "on 2024-01-15 at 10:30",
        "on 15.01.2024",
        "on 01/15/2024",
        "server 192.168.100.100",
        "version 3.11.7",
        "price 1 234 567 EUR",
        "12345",
        "SKU AB12CDEF",
        "call me at noon",
        "user@localhost",
        "",
    ],
)
def test_leaves_alone(text: str) -> None:
    assert mask_pii(text) == (text, set())


def test_masking_is_idempotent() -> None:
    masked, _ = mask_pii("x@y.com +49 171 2345678 4111 1111 1111 1111 DE89370400440532013000")
    assert mask_pii(masked) == (masked, set())


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        ("4111111111111111", True),
        ("378282246310005", True),
        ("4111111111111112", False),
        ("0", True),
        ("79927398713", True),
        ("79927398710", False),
    ],
)
def test_luhn(number: str, ok: bool) -> None:
    assert luhn_ok(number) is ok
