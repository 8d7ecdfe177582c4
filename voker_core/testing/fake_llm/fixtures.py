"""pytest fixtures for the fake LLM server.

Use from a ``conftest.py``::

    from voker_core.testing.fake_llm.fixtures import fake_llm  # noqa: F401

or ``pytest_plugins = ["voker_core.testing.fake_llm.fixtures"]``. Then::

    def test_chat(fake_llm):
        fake_llm.queue_reply(text="Hi")
        client = openai.OpenAI(api_key="x", base_url=fake_llm.openai_base_url)
        ...
        assert len(fake_llm.requests) == 1
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._server import FakeLLMServer


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    """A started `FakeLLMServer` on a free port, stopped after the test."""
    with FakeLLMServer() as server:
        yield server


__all__ = ["fake_llm"]
