"""Fixtures for the devserver tests: a plain HTTP session and URL building.

The ``voker_server`` fixture comes from the package's pytest plugin; it is registered here too in
case the package is not installed (then its ``pytest11`` entry point is not active).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests


def pytest_configure(config: pytest.Config) -> None:
    from voker_core.testing import plugin

    manager = config.pluginmanager
    if not manager.has_plugin("voker") and not manager.is_registered(plugin):
        manager.register(plugin, "voker")


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A keep-alive HTTP session, as a client SDK would use."""
    with requests.Session() as session:
        yield session


@pytest.fixture
def url(voker_server: Any) -> Callable[..., str]:
    """``url("people", "a/b")`` -> ``<base>/api/v1/people/a%2Fb``: each segment fully encoded."""

    def build(*segments: str) -> str:
        path = "/".join(quote(segment, safe="") for segment in segments)
        return f"{voker_server.base_url}/api/v1/{path}"

    return build


@pytest.fixture
def fingerprint_id(http: requests.Session, url: Callable[..., str]) -> str:
    """A fingerprint created on the test's server."""
    body = {"language": "python", "language_version": "3.11.0", "system": "Linux-test"}
    response = http.put(url("fingerprints"), json=body)
    assert response.status_code == 200, response.text
    value: str = response.json()["fingerprint_id"]
    return value
