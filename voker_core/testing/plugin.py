"""pytest plugin (entry point ``pytest11: voker``): a real local Voker server per test.

Fixtures:

- ``voker_server``: a started :class:`~voker_core.testing.server.VokerTestServer` on a free
  port with a fresh temporary database, closed after the test. Configure it with the marker
  ``@pytest.mark.voker_server(api_key="secret", latency=0.01)``.
- ``voker_env``: ``voker_server`` plus ``VOKER_BASE_URL`` and ``VOKER_API_KEY`` set to it in the
  environment (undone after the test), for code that configures itself from the environment.
- ``voker_client``: a :class:`~voker_core.VokerClient` delivering to ``voker_server``; closed
  (and so flushed) after the test. Call ``voker_client.flush()`` before reading events back.
- ``default_voker_client``: the same, installed as the process-wide default (what
  ``voker_core.configure`` does, so wrappers and plug-ins use it), with the environment set as
  ``voker_env`` does; a disabled default is put back after the test.
- ``fake_llm``: a started :class:`~voker_core.testing.fake_llm.FakeLLMServer` speaking the
  OpenAI, Anthropic and Gemini HTTP APIs on a free port, stopped after the test.

Example::

    def test_event_lands(voker_server):
        client = ApiClient(api_key="test", base_url=voker_server.base_url)
        ...
        assert voker_server.events(session="s1")

This module loads in every pytest run of anyone who installs the package, so it imports nothing
beyond pytest at import time; the server code loads when a fixture is first used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from voker_core.client import VokerClient
    from voker_core.testing.fake_llm import FakeLLMServer
    from voker_core.testing.server import VokerTestServer

#: The key ``voker_env`` exports when the server enforces none (any key is accepted then).
TEST_API_KEY = "voker-test-key"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "voker_server(api_key=None, latency=0.0): configure the voker_server fixture's devserver",
    )


@pytest.fixture
def voker_server(request: pytest.FixtureRequest) -> Iterator[VokerTestServer]:
    """A running local Voker server with an empty temporary database, closed after the test."""
    from voker_core.testing.server import voker_test_server

    marker = request.node.get_closest_marker("voker_server")
    options = dict(marker.kwargs) if marker is not None else {}
    with voker_test_server(**options) as server:
        yield server


@pytest.fixture
def voker_env(voker_server: VokerTestServer, monkeypatch: pytest.MonkeyPatch) -> VokerTestServer:
    """``voker_server``, with ``VOKER_BASE_URL``/``VOKER_API_KEY`` pointing at it (and
    ``VOKER_ENABLED`` on, whatever the suite's environment says)."""
    monkeypatch.setenv("VOKER_ENABLED", "true")
    monkeypatch.setenv("VOKER_BASE_URL", voker_server.base_url)
    monkeypatch.setenv("VOKER_API_KEY", voker_server.api_key or TEST_API_KEY)
    return voker_server


@pytest.fixture
def voker_client(voker_server: VokerTestServer) -> Iterator[VokerClient]:
    """A ``VokerClient`` delivering to ``voker_server``; closed (flushed) after the test."""
    from voker_core.client import VokerClient

    # enabled=True: a suite run with VOKER_ENABLED=false (so that nothing else sends) still
    # delivers what a test sends here on purpose.
    client = VokerClient(
        api_key=voker_server.api_key or TEST_API_KEY, base_url=voker_server.base_url, enabled=True
    )
    try:
        yield client
    finally:
        client.close(timeout=5)


@pytest.fixture
def default_voker_client(
    voker_env: VokerTestServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[VokerClient]:
    """A client for ``voker_server`` installed as the process-wide default client."""
    from voker_core.client import configure

    client = configure(
        api_key=voker_env.api_key or TEST_API_KEY, base_url=voker_env.base_url, enabled=True
    )
    try:
        yield client
    finally:
        client.close(timeout=5)
        configure(enabled=False)


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    """A local server speaking the OpenAI, Anthropic and Gemini HTTP APIs, stopped after."""
    from voker_core.testing.fake_llm import FakeLLMServer

    with FakeLLMServer() as server:
        yield server
