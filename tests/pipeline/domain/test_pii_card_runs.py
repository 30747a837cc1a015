"""Card numbers inside runs of digit groups: every card in the run is masked, nothing else is.

A customer pastes "order 1234, card 4111 1111 1111 1111" or two cards in one line; what an LLM
or a department receives must carry `[card]` for each card and keep the groups around it.
"""

from __future__ import annotations

import pytest

from pipeline.domain.pii import mask_pii


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A short group before the card is an order number, not part of the card.
        ("ref 1234 4111 1111 1111 1111", "ref 1234 [card]"),
        # Groups on both sides stay, with their own separators.
        ("77 88 4111 1111 1111 1111 99 11", "77 88 [card] 99 11"),
        ("12-4111-1111-1111-1111-55", "12-[card]-55"),
        ("12-4111 1111 1111 1111 55", "12-[card] 55"),
        # Two cards in one run of groups: both masked.
        ("5 6 4111111111111111 9 4111 1111 1111 1111 10 11", "5 6 [card] 9 [card] 10 11"),
        ("4111111111111111 5500 0000 0000 0004", "[card] [card]"),
        ("cards 4111111111111111 and 5500 0000 0000 0004", "cards [card] and [card]"),
        # Two grouped cards back to back: each group belongs to one card only.
        ("4111 1111 1111 1111 5500 0000 0000 0004", "[card] [card]"),
        ("6011 1111 1111 1117 5105 1051 0510 5100", "[card] [card]"),
        ("3782 822463 10005 4111 1111 1111 1111", "[card] [card]"),
        # 19 digits, the longest a card number may be.
        ("card 6759649826438453771 please", "card [card] please"),
        ("card 6759 6498 2643 8453 771 please", "card [card] please"),
    ],
)
def test_each_card_in_a_run_is_masked_and_its_neighbours_kept(text: str, expected: str) -> None:
    masked, kinds = mask_pii(text)
    assert masked == expected
    assert kinds == {"card"}


def test_a_twenty_digit_number_is_no_card_even_when_it_passes_luhn() -> None:
    # 12345678901234567894 passes Luhn, but no card has 20 digits: a tracking number stays.
    text = "tracking 12345678901234567894 shipped"
    assert mask_pii(text) == (text, set())
