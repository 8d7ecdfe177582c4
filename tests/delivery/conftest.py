"""Fixtures for the delivery tests: a fault-injecting proxy and a factory of closed-after clients."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.delivery.faulty_server import FaultyServer
from voker_core import VokerClient

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def faulty(voker_server: Any) -> Iterator[FaultyServer]:
    """A :class:`FaultyServer` proxying to this test's devserver."""
    with FaultyServer(voker_server.base_url) as proxy:
        yield proxy


@pytest.fixture
def make_client() -> Iterator[Callable[..., VokerClient]]:
    """Build ``VokerClient`` objects that are closed (briefly) when the test ends."""
    clients: list[VokerClient] = []

    def make(**options: Any) -> VokerClient:
        options.setdefault("api_key", "test-key")
        client = VokerClient(**options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close(timeout=1)


def run_python(
    code: str, *, env: dict[str, str], timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (the repository importable), return the result."""
    full_env = {**os.environ, **env, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        check=False,
    )


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on (connections are refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
