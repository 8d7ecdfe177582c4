"""Fixtures for the LangChain handler tests: a handler bound to the test's devserver."""

from __future__ import annotations

from typing import Any

import pytest

from voker_langchain import VokerCallbackHandler


@pytest.fixture
def handler(voker_client: Any) -> VokerCallbackHandler:
    """A handler delivering through the test's client (agent set, session from each test)."""
    return VokerCallbackHandler(agent="lc-agent", client=voker_client)


@pytest.fixture
def landed(voker_server: Any, voker_client: Any) -> Any:
    """``landed(n, **filters)``: flush the client, then the events on the server (exactly n)."""

    def read(count: int, **filters: Any) -> list[dict[str, Any]]:
        assert voker_client.flush(10)
        events: list[dict[str, Any]] = voker_server.wait_for_events(count, **filters)
        assert len(events) == count, [
            (e["event_name"], e["properties"].get("name")) for e in events
        ]
        return events

    return read
