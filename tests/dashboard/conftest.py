"""Fixtures for the dashboard tests: a devserver filled with the demo sessions, and a sender.

Everything goes through real HTTP: :func:`populate_demo_data` and :func:`send` use the real
``ApiClient`` against the test's devserver (``voker_server`` from our pytest plugin).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from voker_core import ApiClient
from voker_core.testing.demo_data import DemoData, populate_demo_data

#: Untrusted content that must render as text: a script and an image with an onerror handler.
XSS = "<script>window.__xss=1</script><img src=x onerror=window.__xss=2>"

Send = Callable[..., dict[str, Any]]


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A keep-alive HTTP session, as a browser would hold."""
    with requests.Session() as session:
        yield session


@pytest.fixture
def demo(voker_server: Any) -> DemoData:
    """The demo agents, people and sessions, stored on the test's devserver."""
    return populate_demo_data(voker_server.base_url, voker_server.api_key or "test-key")


@pytest.fixture
def api(voker_server: Any) -> Iterator[ApiClient]:
    """An ``ApiClient`` for the test's devserver."""
    with ApiClient(api_key=voker_server.api_key or "test-key", base_url=voker_server.base_url) as c:
        yield c


@pytest.fixture
def send(api: ApiClient) -> Send:
    """``send(session=..., properties=..., agent=...)``: store one event (default ``llm``)."""
    fingerprint_id = api.fingerprints.create().fingerprint_id

    def post(*, session: str, properties: dict[str, Any] | None = None, **fields: Any) -> Any:
        return api.events.create(
            event_name=fields.pop("event_name", "llm"),
            properties=properties or {},
            session=session,
            fingerprint_id=fingerprint_id,
            **fields,
        )

    return post


def xss_llm_event() -> dict[str, Any]:
    """An OpenAI chat ``llm`` event whose user message and answer are both :data:`XSS`."""
    return {
        "api": "openai-chat-completions",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "inputs": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": XSS}]},
        "output": {
            "object": "chat.completion",
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": XSS, "tool_calls": None},
                    "finish_reason": "stop",
                }
            ],
        },
        "stream": False,
        "latency_ms": 12.5,
        "usage": {"input_tokens": 9, "output_tokens": 9, "total_tokens": 18},
        "finish_reason": "stop",
        "error": None,
    }
