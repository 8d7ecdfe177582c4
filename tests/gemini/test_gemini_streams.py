"""Gemini streams (the SDK's own generators) are recorded exactly once however they end:
exhausted, broken out of, closed, dropped, or failing mid-stream - with the partial output."""

from __future__ import annotations

import gc
from typing import Any

import pytest

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
