"""Gemini chats: one event per turn with the history sent so far as inputs, the chat's
``voker_*`` keywords with per-message overrides, the context, sync and async."""

from __future__ import annotations

from typing import Any

import pytest
from google.genai import chats as genai_chats

import voker_core
from tests.gemini.helpers import MODEL, VOKER, check_associations, llm_events, text_of, wrapped


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


def _model(text: str) -> dict[str, Any]:
    return {"role": "model", "parts": [{"text": text}]}


def _turn_contents(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [event["properties"]["inputs"]["contents"] for event in events]


def test_a_multi_turn_chat_records_one_event_per_turn_with_the_growing_history(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    client = wrapped(fake_llm, voker_client)
    chat = client.chats.create(model=MODEL, **VOKER)
    assert isinstance(chat, genai_chats.Chat)
    first = chat.send_message("first question")
    second = chat.send_message("second question")
    third = chat.send_message("third question")
    events = llm_events(voker_client, voker_server)
    assert len(events) == 3 == len(fake_llm.requests)
    for event in events:
        check_associations(event)
        assert event["properties"]["stream"] is False
    assert _turn_contents(events) == [
        [_user("first question")],
        [_user("first question"), _model(first.text), _user("second question")],
        [
            _user("first question"),
            _model(first.text),
            _user("second question"),
            _model(second.text),
            _user("third question"),
        ],
    ]
    # What each event records as inputs is what was sent to the model.
    for event, request in zip(events, fake_llm.requests, strict=True):
        assert len(event["properties"]["inputs"]["contents"]) == len(request.body["contents"])
    assert [text_of(e["properties"]["output"]) for e in events] == [
        first.text,
        second.text,
        third.text,
    ]
    assert len(chat.get_history()) == 6


def test_streamed_and_plain_turns_mix_in_one_chat(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    client = wrapped(fake_llm, voker_client)
    chat = client.chats.create(model=MODEL, **VOKER)
    chunks = list(chat.send_message_stream("tell me a story"))
    reply = chat.send_message("and then?")
    events = llm_events(voker_client, voker_server)
    assert [e["properties"]["stream"] for e in events] == [True, False]
    assert text_of(events[0]["properties"]["output"]) == "".join(c.text for c in chunks)
    # The second turn's history holds the streamed answer as the SDK recorded it.
    sent = events[1]["properties"]["inputs"]["contents"]
    assert sent[0] == _user("tell me a story") and sent[-1] == _user("and then?")
    assert "".join(p["text"] for c in sent[1:-1] for p in c["parts"]) == "".join(
        c.text for c in chunks
    )
    assert text_of(events[1]["properties"]["output"]) == reply.text


def test_each_message_may_override_the_chats_keywords(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    client = wrapped(fake_llm, voker_client)
    chat = client.chats.create(model=MODEL, **VOKER, voker_properties={"channel": "web"})
    chat.send_message("one")
    chat.send_message("two", voker_session="conv-2", voker_properties={"step": 2})
    list(chat.send_message_stream("three", voker_agent_version="v2"))
    assert len(llm_events(voker_client, voker_server)) == 3
    first, third = voker_server.events(event_name="llm", session="conv-1")
    [second] = voker_server.events(event_name="llm", session="conv-2")
    assert first["properties"]["channel"] == "web" and first["agent_version"] == "v1"
    assert second["agent"] == "support-bot" and second["properties"]["step"] == 2
    assert second["properties"]["channel"] == "web"  # overriding one keyword keeps the others
    assert third["agent_version"] == "v2" and "step" not in third["properties"]


def test_a_message_naming_another_agent_does_not_take_the_chats_version(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    """A version belongs to its agent (as for contexts): another agent without a version of
    its own is filed under that agent's default version."""
    client = wrapped(fake_llm, voker_client)
    chat = client.chats.create(model=MODEL, **VOKER)  # support-bot, v1
    chat.send_message("one", voker_agent="billing-bot")
    chat.send_message("two", voker_agent="billing-bot", voker_agent_version="b2")
    chat.send_message("three", voker_agent="support-bot")
    assert len(llm_events(voker_client, voker_server)) == 3
    filed = [(e["agent"], e["agent_version"]) for e in voker_server.events(event_name="llm")]
    assert filed == [("billing-bot", "default"), ("billing-bot", "b2"), ("support-bot", "v1")]


def test_a_chat_without_keywords_takes_them_from_the_context(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    client = wrapped(fake_llm, voker_client)
    chat = client.chats.create(model=MODEL)  # e.g. made at import time, used per request
    with voker_core.context(session="req-1", agent="ctx-agent", person="user-9"):
        chat.send_message("hi")
    with voker_core.context(session="req-2", agent="ctx-agent"):
        list(chat.send_message_stream("again"))
    # Events of different sessions may be delivered in any order.
    first, second = sorted(llm_events(voker_client, voker_server), key=lambda e: e["session"])
    assert (first["session"], first["agent"], first["person"]) == ("req-1", "ctx-agent", "user-9")
    assert (second["session"], second["person"]) == ("req-2", None)


def test_a_chat_turn_without_a_session_raises_before_any_request(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    client = wrapped(fake_llm, voker_client)
    chat = client.chats.create(model=MODEL, voker_agent="support-bot")
    with pytest.raises(TypeError, match="voker_session"):
        chat.send_message("hi")
    with pytest.raises(TypeError, match="voker_session"):
        chat.send_message_stream("hi")
    assert fake_llm.requests == []
    assert chat.get_history() == []  # the failed turns left no trace in the conversation
    assert llm_events(voker_client, voker_server) == []


def test_bad_chat_keywords_are_refused_when_the_chat_is_made(
    fake_llm: Any, voker_client: Any
) -> None:
    client = wrapped(fake_llm, voker_client)
    with pytest.raises(TypeError, match="voker_session"):
        client.chats.create(model=MODEL, voker_session=42)  # type: ignore[arg-type]


def test_a_failing_turn_is_recorded_and_the_chat_goes_on(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    from google.genai import errors

    client = wrapped(fake_llm, voker_client)
    chat = client.chats.create(model=MODEL, **VOKER)
    chat.send_message("one")
    fake_llm.queue_reply(error_status=503)
    with pytest.raises(errors.ServerError) as caught:
        chat.send_message("two")
    chat.send_message("three")
    events = llm_events(voker_client, voker_server)
    assert [
        e["properties"]["error"] and e["properties"]["error"]["status_code"] for e in events
    ] == [
        None,
        503,
        None,
    ]
    assert events[1]["properties"]["error"]["message"] == str(caught.value)
    # The SDK keeps failed turns out of the history it sends: so do the recorded inputs.
    assert len(events[2]["properties"]["inputs"]["contents"]) == 3


async def test_an_async_multi_turn_chat(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    client = wrapped(fake_llm, voker_client)
    chat = client.aio.chats.create(model=MODEL, **VOKER)
    assert isinstance(chat, genai_chats.AsyncChat)
    first = await chat.send_message("first")
    chunks = [c async for c in await chat.send_message_stream("second")]
    async with voker_core.context(properties={"turn": 3}):
        third = await chat.send_message("third", voker_person="user-8")
    events = llm_events(voker_client, voker_server)
    assert [len(c) for c in _turn_contents(events)] == [1, 3, 3 + len(chunks) + 1]
    assert [e["properties"]["stream"] for e in events] == [False, True, False]
    assert text_of(events[0]["properties"]["output"]) == first.text
    assert text_of(events[1]["properties"]["output"]) == "".join(c.text for c in chunks)
    assert text_of(events[2]["properties"]["output"]) == third.text
    assert events[2]["person"] == "user-8" and events[2]["properties"]["turn"] == 3
    await client.aio.aclose()


async def test_an_async_chat_turn_without_an_agent_raises_before_any_request(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    client = wrapped(fake_llm, voker_client)
    chat = client.aio.chats.create(model=MODEL, voker_session="conv-1")
    with pytest.raises(TypeError, match="voker_agent"):
        await chat.send_message("hi")
    with pytest.raises(TypeError, match="voker_agent"):
        await chat.send_message_stream("hi")
    assert fake_llm.requests == []
    assert llm_events(voker_client, voker_server) == []
    await client.aio.aclose()
