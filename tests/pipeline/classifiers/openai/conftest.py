"""The stub OpenAI API, started for each test that asks for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline.testing.openai_stub import OpenAIStub, running_stub
from tests.pipeline.classifiers.openai.support import API_KEY


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with running_stub(api_key=API_KEY) as server:
        yield server
