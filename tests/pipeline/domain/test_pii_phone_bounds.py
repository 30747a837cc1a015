"""The phone rule's bounds: 8 digits after a country code (+ or 00), 9 without, at most 15.

One digit either side of a bound decides whether a customer's number reaches an LLM; an order
number, a date or an address before a phone number must not stop the phone being masked.
"""

from __future__ import annotations

import pytest

from pipeline.domain.pii import mask_pii


@pytest.mark.parametrize(
    "text",
    [
        "+31 20 1234",  # 8 digits after +: the shortest international number
        "0031 20 1234",  # the same number dialled out with 00
        "030 123456",  # 9 digits, national: the shortest without a country code
        "+49 15123 4567 8902",  # 15 digits after +: the longest a number may have
        "0049 15123 4567 8902",
    ],
)
def test_a_phone_number_at_a_bound_is_masked(text: str) -> None:
    assert mask_pii(f"call {text} today") == ("call [phone] today", {"phone"})


@pytest.mark.parametrize(
    "text",
    [
        "+31 20 123",  # 7 digits after +
        "0031 20 123",  # 7 after 00: the 00 is no digit of the number
        "030 12345",  # 8 digits without a country code
        "+49 15123 4567 89021",  # 16 digits
        "0049 15123 4567 89021",
    ],
)
def test_a_number_past_a_bound_is_left(text: str) -> None:
    assert mask_pii(f"see {text} today") == (f"see {text} today", set())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # An order id (a bare digit run) before the phone number.
        ("order 12345678901 or call 030 1234567", "order 12345678901 or call [phone]"),
        # A date, too short to be a phone, before it.
        ("on 2024-01-15 call 030 1234567", "on 2024-01-15 call [phone]"),
        # A labelled reference before it.
        ("ticket #030 1234567, mobile 0171 2345678", "ticket #030 1234567, mobile [phone]"),
    ],
)
def test_what_is_not_a_phone_does_not_stop_the_next_phone_being_masked(
    text: str, expected: str
) -> None:
    assert mask_pii(text) == (expected, {"phone"})


def test_a_zero_padded_ip_address_is_no_phone() -> None:
    # Router and firewall logs print addresses zero-padded; twelve digits, yet no phone.
    text = "server 010.020.030.040 is down"
    assert mask_pii(text) == (text, set())
