"""The IBAN rule's bounds: 15-34 characters and at least ten digits, both ends included.

An account number one character or one digit past a bound is still what a customer pasted;
what goes to an LLM must carry `[iban]` instead, and what is past the bound must be left.
"""

from __future__ import annotations

import pytest

from pipeline.domain.pii import mask_pii


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # 34 characters, the longest an IBAN may be: masked.
        ("pay XX12 3456 7890 1234 5678 9012 3456 7890 12 now", "pay [iban] now"),
        # Exactly ten digits among letters: masked.
        ("to XX12 ABCD EFGH 3456 7890, thanks", "to [iban], thanks"),
    ],
)
def test_an_iban_at_its_bounds_is_masked(text: str, expected: str) -> None:
    masked, kinds = mask_pii(text)
    assert masked == expected
    assert "iban" in kinds


@pytest.mark.parametrize(
    "text",
    [
        "XX12 3456 7890 1234 5678 9012 3456 7890 123",  # 35 characters: too long for an IBAN
        "XX12 ABCD EFGH 3456 789A",  # nine digits: a product code
    ],
)
def test_past_its_bounds_it_is_not_an_iban(text: str) -> None:
    masked, kinds = mask_pii(text)
    assert "[iban]" not in masked
    assert "iban" not in kinds
