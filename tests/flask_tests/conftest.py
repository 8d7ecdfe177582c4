"""Fixtures for the Flask extension tests: wrapped OpenAI clients on the fake provider server,
and a real threaded werkzeug server.

The package is called ``flask_tests`` (not ``flask``) so that it can never shadow the real
``flask`` package on ``sys.path``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

MODEL = "gpt-4.1-mini"


@pytest.fixture
def llm(fake_llm: Any) -> Iterator[Any]:
    """The wrapped (recording) OpenAI client, talking to the fake provider server."""
    from voker_core.ai.provider_openai import OpenAI

    client = OpenAI(api_key="test-key", base_url=fake_llm.openai_base_url, max_retries=0)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def make_async_llm(fake_llm: Any) -> Callable[[], Any]:
    """A factory of wrapped AsyncOpenAI clients.

    Flask runs each async view on an event loop of its own (asgiref), and an async HTTP client's
    connections belong to one loop, so a Flask app makes its async client inside the view.
    """
    from voker_core.ai.provider_openai import AsyncOpenAI

    def make() -> Any:
        return AsyncOpenAI(api_key="test-key", base_url=fake_llm.openai_base_url, max_retries=0)

    return make


@pytest.fixture
def threaded_server() -> Iterator[Any]:
    """Run an app under werkzeug's threaded server on a free port; stopped after the test.

    ``serve(app, threaded=False)`` serves every request on one reused thread instead, as a
    gunicorn sync worker does.
    """
    servers: list[Any] = []

    def serve(app: Flask, *, threaded: bool = True) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=threaded)
        thread = threading.Thread(target=server.serve_forever, name="flask-test-server")
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}"

    yield serve
    for server, thread in servers:
        server.shutdown()
        thread.join(5)
        server.server_close()


def ask(llm: Any, text: str = "hello") -> str:
    """One recorded chat completion inside the current request's context; returns the reply."""
    completion = llm.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": text}]
    )
    return str(completion.choices[0].message.content)
