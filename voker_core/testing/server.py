"""A devserver for tests: :class:`VokerTestServer` adds waiting helpers to ``DevServer``.

Delivery through ``VokerClient`` is asynchronous, so a test waits for what it expects to land::

    with voker_test_server() as server:
        client = VokerClient(api_key="test", base_url=server.base_url)
        client.events.create(event_name="llm", properties={}, session="s1")
        [event] = server.wait_for_events(1, session="s1")
        assert server.request_count() == 2      # fingerprint + event

The pytest fixture ``voker_server`` (``voker_core.testing.plugin``) gives one of these per test.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from voker_core.devserver.server import DevServer

__all__ = ["VokerTestServer", "voker_test_server"]

_POLL_SECONDS = 0.02


class VokerTestServer(DevServer):
    """A ``DevServer`` (all its readers included) with assertion helpers for tests."""

    def wait_for_events(
        self,
        count: int,
        *,
        timeout: float = 10.0,
        session: str | None = None,
        agent: str | None = None,
        agent_version: str | None = None,
        person: str | None = None,
        event_name: str | None = None,
    ) -> list[dict[str, Any]]:
        """Poll until at least ``count`` events match the filters; return all that match.

        Raises ``AssertionError`` after ``timeout`` seconds, listing the matching events and
        every stored event, so a failing test shows what did arrive.
        """
        filters = {
            "session": session,
            "agent": agent,
            "agent_version": agent_version,
            "person": person,
            "event_name": event_name,
        }
        deadline = time.monotonic() + timeout
        while True:
            events = self.events(**filters)
            if len(events) >= count:
                return events
            if time.monotonic() >= deadline:
                break
            time.sleep(_POLL_SECONDS)
        given = {name: value for name, value in filters.items() if value is not None}
        everything = self.events()
        lines = [
            f"expected at least {count} event(s) matching {given or 'anything'} within "
            f"{timeout}s, found {len(events)}; the server holds {len(everything)} event(s):",
            *(_describe(event) for event in everything[-50:]),
        ]
        raise AssertionError("\n".join(lines))


def _describe(event: dict[str, Any]) -> str:
    keys = ("event_name", "session", "agent", "agent_version", "person")
    fields = ", ".join(f"{key}={event[key]!r}" for key in keys)
    return f"  - {fields}, properties keys={sorted(event['properties'])}"


@contextmanager
def voker_test_server(
    db_path: str | os.PathLike[str] | None = None,
    *,
    api_key: str | None = None,
    latency: float = 0.0,
) -> Iterator[VokerTestServer]:
    """A started :class:`VokerTestServer` on a free port (temporary database by default).

    The server is closed, and its temporary database deleted, when the block exits.
    """
    server = VokerTestServer(db_path, api_key=api_key, latency=latency)
    try:
        server.start()
        yield server
    finally:
        server.close()
