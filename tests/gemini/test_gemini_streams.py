"""Gemini streams (the SDK's own generators) are recorded exactly once however they end:
exhausted, broken out of, closed, dropped, or failing mid-stream - with the partial output."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from google.genai import types

from tests.gemini.helpers import MODEL, VOKER, check_associations, llm_events, one_event, text_of
from tests.gemini.helpers import wrapped as _wrapped
from voker_core.testing.fake_llm import Reply, ToolCall, Usage

LONG = Reply(text="one two three four five six seven eight")


def _stream(client: Any, **voker: Any) -> Any:
    return client.models.generate_content_stream(model=MODEL, contents="count", **voker)


def test_breaking_out_of_the_loop_records_the_partial_output(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(LONG)
    client = _wrapped(fake_llm, voker_client)
    seen = []
    for chunk in _stream(client, **VOKER):
        seen.append(chunk.text)
        if len(seen) == 2:
            break  # the generator is dropped here, as with the unwrapped SDK
    event = one_event(voker_client, voker_server)
    check_associations(event)
    props = event["properties"]
    assert props["error"] is None
    assert text_of(props["output"]) == "".join(seen) == "one two "
    assert props["finish_reason"] is None  # the answer never finished
    assert props["usage"]["input_tokens"] == fake_llm.requests[-1].reply.input_tokens
    assert 0 < props["time_to_first_token_ms"] <= props["latency_ms"]


def test_a_held_stream_is_recorded_when_closed_and_only_once(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(LONG)
    client = _wrapped(fake_llm, voker_client)
    stream = _stream(client, **VOKER)
    first = next(stream)
    assert llm_events(voker_client, voker_server) == []
    stream.close()
    stream.close()
    props = one_event(voker_client, voker_server)["properties"]
    assert text_of(props["output"]) == first.text == "one "
    del stream
    gc.collect()
    assert len(llm_events(voker_client, voker_server)) == 1


def test_a_dropped_stream_is_recorded_when_collected(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(LONG)
    client = _wrapped(fake_llm, voker_client)
    stream = _stream(client, **VOKER)
    next(stream)
    next(stream)
    del stream
    gc.collect()
    props = one_event(voker_client, voker_server)["properties"]
    assert text_of(props["output"]) == "one two "


def test_a_stream_never_started_sends_and_records_nothing(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    client = _wrapped(fake_llm, voker_client)
    stream = _stream(client, **VOKER)
    del stream
    gc.collect()
    assert fake_llm.requests == []
    assert llm_events(voker_client, voker_server) == []


@pytest.mark.parametrize("then", ["list", "next"])
def test_a_stream_closed_before_its_first_read_sends_and_records_nothing(
    then: str, fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    client = _wrapped(fake_llm, voker_client)
    stream = _stream(client, **VOKER)
    stream.close()
    if then == "list":
        assert list(stream) == []
    else:
        with pytest.raises(StopIteration):
            next(stream)
    assert fake_llm.requests == []
    assert llm_events(voker_client, voker_server) == []


async def test_an_async_stream_closed_before_its_first_read_records_nothing(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    client = _wrapped(fake_llm, voker_client)
    stream = await client.aio.models.generate_content_stream(model=MODEL, contents="count", **VOKER)
    await stream.aclose()
    assert [chunk async for chunk in stream] == []
    assert fake_llm.requests == []
    assert await asyncio.to_thread(llm_events, voker_client, voker_server) == []


def test_a_stream_failing_midway_records_the_error_and_reraises(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(Reply(text=LONG.text, disconnect_after=3))
    client = _wrapped(fake_llm, voker_client)
    seen: list[str] = []
    with pytest.raises(Exception) as caught:  # the SDK lets the transport's error through
        for chunk in _stream(client, **VOKER):
            seen.append(chunk.text)
    assert seen == ["one ", "two ", "three "]
    props = one_event(voker_client, voker_server)["properties"]
    assert props["error"]["type"] == type(caught.value).__name__
    assert props["error"]["message"] == str(caught.value)
    assert text_of(props["output"]) == "".join(seen)


async def test_async_break_records_the_partial_output(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(LONG)
    client = _wrapped(fake_llm, voker_client)
    stream = await client.aio.models.generate_content_stream(model=MODEL, contents="count", **VOKER)
    seen = []
    async for chunk in stream:
        seen.append(chunk.text)
        if len(seen) == 3:
            break
    await stream.aclose()
    props = one_event(voker_client, voker_server)["properties"]
    assert text_of(props["output"]) == "".join(seen) == "one two three "
    await client.aio.aclose()


async def test_an_async_chat_stream_failing_midway_records_the_error(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(Reply(text=LONG.text, disconnect_after=2))
    client = _wrapped(fake_llm, voker_client)
    chat = client.aio.chats.create(model=MODEL, **VOKER)
    with pytest.raises(Exception) as caught:
        async for _ in await chat.send_message_stream("count"):
            pass
    props = one_event(voker_client, voker_server)["properties"]
    assert props["error"]["type"] == type(caught.value).__name__
    assert text_of(props["output"]) == "one two "
    await client.aio.aclose()


@pytest.mark.parametrize("stream", [False, True])
def test_function_calls_are_recorded_with_the_tool_calls_finish_reason(
    stream: bool, fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(
        Reply(
            text="Let me check.",
            tool_calls=[ToolCall("get_weather", {"city": "Paris"})],
            usage=Usage(reasoning_tokens=5),
        )
    )
    client = _wrapped(fake_llm, voker_client)
    args: dict[str, Any] = {"model": MODEL, "contents": "weather in Paris?", **VOKER}
    if stream:
        chunks = list(client.models.generate_content_stream(**args))
        calls = [c.function_calls[0] for c in chunks if c.function_calls]
    else:
        calls = client.models.generate_content(**args).function_calls or []
    assert calls[0].name == "get_weather"
    props = one_event(voker_client, voker_server)["properties"]
    assert props["finish_reason"] == "tool_calls"
    parts = props["output"]["candidates"][0]["content"]["parts"]
    assert parts[0] == {"text": "Let me check."}
    assert parts[-1] == {"function_call": {"name": "get_weather", "args": {"city": "Paris"}}}
    reply = fake_llm.requests[-1].reply
    # Gemini reports thinking tokens beside the candidates: both count as output.
    assert props["usage"]["output_tokens"] == reply.output_tokens
    assert props["usage"]["reasoning_tokens"] == 5


async def test_a_dropped_async_stream_is_recorded(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    import asyncio

    fake_llm.queue_reply(LONG)
    client = _wrapped(fake_llm, voker_client)
    stream = await client.aio.models.generate_content_stream(model=MODEL, contents="count", **VOKER)
    first = await stream.__anext__()
    del stream
    gc.collect()
    for _ in range(5):  # asyncio closes a collected async generator on a later loop turn
        await asyncio.sleep(0.01)
    props = one_event(voker_client, voker_server)["properties"]
    assert text_of(props["output"]) == first.text == "one "
    await client.aio.aclose()


# -- a stream the caller keeps in a variable --------------------------------------------------


def _check_partial(props: dict[str, Any], seen: list[str], fake_llm: Any) -> None:
    assert props["error"] is None
    assert text_of(props["output"]) == "".join(seen) == "one two "
    assert props["finish_reason"] is None  # the answer never finished
    assert props["usage"]["input_tokens"] == fake_llm.requests[-1].reply.input_tokens
    assert 0 < props["time_to_first_token_ms"] <= props["latency_ms"]


@pytest.mark.parametrize("surface", ["models", "chat"])
def test_breaking_out_of_a_held_stream_records_at_the_break(
    surface: str, fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(LONG)
    client = _wrapped(fake_llm, voker_client)
    if surface == "models":
        stream = _stream(client, **VOKER)
    else:
        stream = client.chats.create(model=MODEL, **VOKER).send_message_stream("count")
    seen = []
    for chunk in stream:  # the caller still holds ``stream`` after the loop
        seen.append(chunk.text)
        if len(seen) == 2:
            break
    event = one_event(voker_client, voker_server)
    check_associations(event)
    _check_partial(event["properties"], seen, fake_llm)
    # Reading on after the break gives the rest, as with the SDK's generator; no second event.
    assert "".join(chunk.text for chunk in stream) == "three four five six seven eight"
    del stream
    gc.collect()
    assert len(llm_events(voker_client, voker_server)) == 1


async def test_breaking_out_of_a_held_async_stream_records_at_the_break(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(LONG)
    client = _wrapped(fake_llm, voker_client)
    stream = await client.aio.models.generate_content_stream(model=MODEL, contents="count", **VOKER)
    seen = []
    async for chunk in stream:
        seen.append(chunk.text)
        if len(seen) == 2:
            break
    await asyncio.sleep(0.01)  # the event loop closes the loop's dropped generator
    _check_partial(one_event(voker_client, voker_server)["properties"], seen, fake_llm)
    await stream.aclose()
    assert len(llm_events(voker_client, voker_server)) == 1
    await client.aio.aclose()


_EXITING_SCRIPT = """
import sys
import voker_core
from google.genai import types
from voker_core.ai.provider_gemini import Client

voker_core.configure(api_key="test", base_url=sys.argv[1], enabled=True)
client = Client(api_key="fake-key", http_options=types.HttpOptions(base_url=sys.argv[2]))
stream = client.models.generate_content_stream(
    model="gemini-2.5-flash", contents="count", voker_agent="bot", voker_session="exiting"
)
if sys.argv[3] == "break":
    for chunk in stream:
        break
else:
    next(stream)
# exits here, the stream still referenced from the module's globals
"""


@pytest.mark.parametrize("how", ["break", "next"])
def test_a_stream_left_unfinished_when_the_script_exits_is_recorded(
    how: str, fake_llm: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(LONG)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _EXITING_SCRIPT,
            voker_server.base_url,
            fake_llm.gemini_base_url,
            how,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    events = voker_server.events(event_name="llm", session="exiting")
    assert len(events) == 1, done.stderr
    props = events[0]["properties"]
    assert props["error"] is None
    assert text_of(props["output"]) == "one "
    assert props["finish_reason"] is None
    assert props["usage"]["input_tokens"] == fake_llm.requests[-1].reply.input_tokens


# -- automatic function calling ------------------------------------------------------------------


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@pytest.mark.parametrize("surface", ["models", "chat"])
def test_a_stream_with_automatic_function_calling_records_the_final_response(
    surface: str, fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    """The SDK runs the function the model called and asks again, yielding both responses'
    chunks: the event is the last response's, as ``generate_content`` records it."""
    config = types.GenerateContentConfig(tools=[get_weather])
    client = _wrapped(fake_llm, voker_client)
    fake_llm.queue_reply(Reply(tool_calls=[ToolCall("get_weather", {"city": "Paris"})]))
    fake_llm.queue_reply(text="It is sunny in Paris.")
    if surface == "models":
        chunks = list(
            client.models.generate_content_stream(
                model=MODEL, contents="weather?", config=config, **VOKER
            )
        )
    else:
        chat = client.chats.create(model=MODEL, config=config, **VOKER)
        chunks = list(chat.send_message_stream("weather?"))
    assert [request.reply.text for request in fake_llm.requests][-1] == "It is sunny in Paris."
    assert any(chunk.function_calls for chunk in chunks)  # the caller saw both responses
    final = fake_llm.requests[-1].reply
    props = one_event(voker_client, voker_server)["properties"]
    assert props["error"] is None
    assert props["finish_reason"] == "stop"
    parts = props["output"]["candidates"][0]["content"]["parts"]
    assert parts == [{"text": "It is sunny in Paris."}]
    assert props["usage"]["input_tokens"] == final.input_tokens
    assert props["usage"]["output_tokens"] == final.output_tokens
    assert 0 < props["time_to_first_token_ms"] <= props["latency_ms"]


# -- timing of async streams -----------------------------------------------------------------


@pytest.mark.parametrize("surface", ["models", "chat"])
async def test_an_async_streams_clock_starts_at_its_first_read(
    surface: str, fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    """google-genai sends an ``aio`` stream's request on its first read, not at the ``await``:
    the caller's time in between is not the model's."""
    pause = 0.5
    client = _wrapped(fake_llm, voker_client)
    if surface == "models":
        stream = await client.aio.models.generate_content_stream(
            model=MODEL, contents="count", **VOKER
        )
    else:
        stream = await client.aio.chats.create(model=MODEL, **VOKER).send_message_stream("count")
    await asyncio.sleep(pause)
    assert fake_llm.requests == []
    used = datetime.now(timezone.utc)
    texts = [chunk.text async for chunk in stream]
    assert texts
    props = one_event(voker_client, voker_server)["properties"]
    started = datetime.fromisoformat(props["started_at"].replace("Z", "+00:00"))
    assert started >= used - timedelta(milliseconds=50)
    assert 0 < props["time_to_first_token_ms"] <= props["latency_ms"] < pause * 1000
    await client.aio.aclose()
