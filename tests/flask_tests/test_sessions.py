"""Which session a request's LLM calls land in: header, session_loader, Flask's session cookie."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Flask, request

import voker_core
from voker_flask import Voker

from .conftest import ask


def make_app(llm: Any, **config: Any) -> Flask:
    app = Flask("sessions")
    app.config.update({"SECRET_KEY": "secret", "VOKER_AGENT": "support-bot", **config})
    Voker(app)

    @app.post("/chat")
    def chat() -> dict[str, Any]:
        return {"reply": ask(llm, request.get_json()["text"])}

    @app.get("/health")
    def health() -> str:
        return "ok"

    return app


def sessions_of(voker_server: Any, client: Any) -> dict[str, str]:
    """The session of each recorded call, by the text sent (events of different sessions may be
    delivered in any order; within one session they keep their order)."""
    assert client.flush(5)
    events = voker_server.events(event_name="llm")
    by_text = {e["properties"]["inputs"]["messages"][0]["content"]: e["session"] for e in events}
    assert len(by_text) == len(events)
    return by_text


def test_cookie_session_is_stable_across_requests_of_one_client(
    default_voker_client: Any, voker_server: Any, llm: Any
) -> None:
    app = make_app(llm)
    alice, bob = app.test_client(), app.test_client()
    for text in ["one", "two", "three"]:
        assert alice.post("/chat", json={"text": text}).status_code == 200
    assert bob.post("/chat", json={"text": "other"}).status_code == 200

    sessions = sessions_of(voker_server, default_voker_client)
    assert len(sessions) == 4
    assert sessions["one"] == sessions["two"] == sessions["three"]  # one browser, one conversation
    assert sessions["other"] != sessions["one"]  # another browser, another conversation
    assert all(len(s) == 32 for s in sessions.values())  # generated ids
    # ... and within the conversation the calls arrive in the order they were made.
    texts = [
        e["properties"]["inputs"]["messages"][0]["content"]
        for e in voker_server.events(session=sessions["one"])
    ]
    assert texts == ["one", "two", "three"]


def test_session_cookie_is_only_set_when_something_is_recorded(
    default_voker_client: Any, llm: Any
) -> None:
    app = make_app(llm)
    client = app.test_client()
    quiet = client.get("/health")
    assert quiet.status_code == 200
    assert "Set-Cookie" not in quiet.headers  # no LLM call: no session created
    chatty = client.post("/chat", json={"text": "hi"})
    assert "session=" in chatty.headers["Set-Cookie"]


def test_header_beats_cookie_session(
    default_voker_client: Any, voker_server: Any, llm: Any
) -> None:
    app = make_app(llm)
    client = app.test_client()
    client.post("/chat", json={"text": "cookie"})
    client.post("/chat", json={"text": "header"}, headers={"X-Voker-Session": "conv-42"})
    client.post("/chat", json={"text": "cookie again"})

    sessions = sessions_of(voker_server, default_voker_client)
    assert sessions["header"] == "conv-42"
    assert sessions["cookie"] == sessions["cookie again"] != "conv-42"
    [event] = voker_server.events(session="conv-42")
    assert event["properties"]["inputs"]["messages"][0]["content"] == "header"


def test_custom_session_header_and_blank_header_values(
    default_voker_client: Any, voker_server: Any, llm: Any
) -> None:
    app = make_app(llm, VOKER_SESSION_HEADER="X-Conversation-Id")
    client = app.test_client()
    client.post("/chat", json={"text": "a"}, headers={"X-Conversation-Id": "c-1"})
    client.post("/chat", json={"text": "b"}, headers={"X-Voker-Session": "ignored"})
    client.post("/chat", json={"text": "c"}, headers={"X-Conversation-Id": "   "})

    sessions = sessions_of(voker_server, default_voker_client)
    assert sessions["a"] == "c-1"
    assert sessions["b"] not in ("ignored", "c-1")  # the default header is not consulted
    assert sessions["c"] == sessions["b"]  # blank header: the cookie session


def test_session_loader_is_used_when_flasks_session_is_unusable(
    default_voker_client: Any, voker_server: Any, llm: Any
) -> None:
    app = make_app(llm, SECRET_KEY=None)  # e.g. a token-authenticated JSON API
    voker = app.extensions["voker"].extension

    @voker.session_loader
    def conversation() -> str | None:
        return request.args.get("conversation")

    client = app.test_client()
    client.post("/chat?conversation=ticket-7", json={"text": "a"})
    client.post("/chat?conversation=ticket-7", json={"text": "b"}, headers={"X-Voker-Session": "h"})
    client.post("/chat?conversation=ticket-7", json={"text": "c"})
    client.post("/chat", json={"text": "d"})  # the loader has no answer: a session of its own

    sessions = sessions_of(voker_server, default_voker_client)
    assert (sessions["a"], sessions["b"], sessions["c"]) == ("ticket-7", "h", "ticket-7")
    assert sessions["d"] not in ("ticket-7", "h")


def test_flasks_session_comes_before_the_session_loader(
    default_voker_client: Any, voker_server: Any, llm: Any
) -> None:
    app = make_app(llm)
    voker = app.extensions["voker"].extension
    calls: list[str] = []

    @voker.session_loader
    def conversation() -> str:
        calls.append(request.path)
        return "from-loader"

    client = app.test_client()
    client.post("/chat", json={"text": "a"})
    client.post("/chat", json={"text": "b"})
    sessions = sessions_of(voker_server, default_voker_client)
    assert sessions["a"] == sessions["b"] != "from-loader"
    assert calls == []


def test_without_secret_key_each_request_gets_its_own_session(
    default_voker_client: Any,
    voker_server: Any,
    llm: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app(llm, SECRET_KEY=None)
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="voker"):
        for text in ["a", "b"]:
            assert client.post("/chat", json={"text": text}).status_code == 200
    sessions = sessions_of(voker_server, default_voker_client)
    assert len(set(sessions.values())) == 2
    assert caplog.text.count("has no SECRET_KEY") == 1  # warned once per app


def test_session_is_resolved_once_per_request(
    default_voker_client: Any, voker_server: Any, llm: Any
) -> None:
    app = make_app(llm, SECRET_KEY=None)
    voker = app.extensions["voker"].extension
    calls: list[str] = []

    @voker.session_loader
    def loader() -> str:
        calls.append(request.path)
        return f"loaded-{len(calls)}"

    @app.post("/twice")
    def twice() -> dict[str, Any]:
        ask(llm, "first")
        ask(llm, "second")
        return {"session": voker_core.current_context().session}

    assert app.test_client().post("/twice").get_json() == {"session": "loaded-1"}
    assert calls == ["/twice"]
    assert sessions_of(voker_server, default_voker_client) == {
        "first": "loaded-1",
        "second": "loaded-1",
    }


def test_async_session_loader_gives_the_session_to_sync_and_async_code(
    default_voker_client: Any, voker_server: Any, llm: Any, make_async_llm: Any
) -> None:
    app = make_app(llm, SECRET_KEY=None)
    voker = app.extensions["voker"].extension

    @voker.session_loader
    async def conversation() -> str | None:
        return request.args.get("conversation")

    @app.post("/achat")
    async def achat() -> dict[str, Any]:
        async with make_async_llm() as client:
            completion = await client.chat.completions.create(
                model="gpt-4.1-mini", messages=[{"role": "user", "content": request.json["text"]}]
            )
        return {"reply": completion.choices[0].message.content}

    @app.post("/sync-in-async")
    async def sync_in_async() -> dict[str, Any]:
        return {"reply": ask(llm, request.json["text"])}

    client = app.test_client()
    client.post("/chat?conversation=ticket-7", json={"text": "sync view"})
    client.post("/achat?conversation=ticket-7", json={"text": "async view"})
    client.post("/sync-in-async?conversation=ticket-7", json={"text": "sync in async view"})
    # Never a coroutine's repr as an id.
    assert sessions_of(voker_server, default_voker_client) == {
        "sync view": "ticket-7",
        "async view": "ticket-7",
        "sync in async view": "ticket-7",
    }
