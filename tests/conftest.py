"""Fixtures shared by the whole suite.

The devserver fixture ``voker_server`` comes from our pytest plugin (``voker_core.testing``);
here we add the pieces that several test packages use: a fake LLM provider server, and Voker
clients pointed at the devserver (one explicit, one installed as the process default).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def fake_llm() -> Iterator[Any]:
    """A local server speaking the OpenAI, Anthropic and Gemini HTTP APIs."""
    from voker_core.testing.fake_llm import FakeLLMServer

    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def voker_client(voker_server: Any) -> Iterator[Any]:
    """A ``VokerClient`` delivering to the test's devserver; closed (flushed) afterwards."""
    from voker_core import VokerClient

    client = VokerClient(api_key="test-key", base_url=voker_server.base_url)
    try:
        yield client
    finally:
        client.close(timeout=5)


@pytest.fixture
def default_voker_client(voker_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Install a client for the devserver as the process-wide default (as ``configure`` does),
    with ``VOKER_API_KEY``/``VOKER_BASE_URL`` set too; the previous default is restored after."""
    import voker_core

    monkeypatch.setenv("VOKER_API_KEY", "test-key")
    monkeypatch.setenv("VOKER_BASE_URL", voker_server.base_url)
    client = voker_core.configure(api_key="test-key", base_url=voker_server.base_url)
    try:
        yield client
    finally:
        client.close(timeout=5)
        voker_core.configure(enabled=False)
