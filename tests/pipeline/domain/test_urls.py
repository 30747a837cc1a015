"""URLs shown to a person keep everything but the password."""

from __future__ import annotations

import pytest

from pipeline.domain.urls import redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://triage:s3cret@db:5432/triage",
            "postgresql+psycopg://triage:***@db:5432/triage",
        ),
        ("redis://:s3cret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("amqp://u:s3cret@[::1]:5672//", "amqp://u:***@[::1]:5672//"),
        ("postgresql://postgres@127.0.0.1/triage", "postgresql://postgres@127.0.0.1/triage"),
        ("sqlite:////tmp/triage.db", "sqlite:////tmp/triage.db"),
        ("redis://h:notaport/0", "<unparsable URL>"),
    ],
)
def test_passwords_are_masked(url: str, shown: str) -> None:
    assert redact_url(url) == shown
