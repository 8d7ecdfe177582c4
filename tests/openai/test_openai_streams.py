"""Streams are recorded exactly once however they end: exhausted, broken out of, closed,
abandoned (garbage-collected), or failing mid-stream - with the partial output."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import openai
import pytest

from tests.openai.helpers import (
    CHAT_ARGS,
    RESPONSES_ARGS,
    VOKER,
    awrapped,
    chat_text,
    check_associations,
    llm_events,
    one_event,
    wrapped,
)
from voker_core.testing.fake_llm import Reply

LONG = Reply(text="one two three four five six seven eight")


def _content(props: dict[str, Any]) -> str:
    return props["output"]["choices"][0]["message"]["content"] or ""


def test_breaking_out_after_two_chunks_records_the_partial_output(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(LONG)
    with wrapped(fake_llm, voker_client) as client:
        stream = client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True)
        seen = []
        for chunk in stream:
            seen.append(chunk)
            if len(seen) == 2:
                break
        event = one_event(voker_client, voker_server)  # recorded at the break, stream alive
        stream.close()
    props = event["properties"]
    check_associations(event)
    assert props["error"] is None
    assert _content(props) == chat_text(seen) == "one "
    assert props["finish_reason"] is None
    assert 0 < props["time_to_first_token_ms"] <= props["latency_ms"]
    assert len(llm_events(voker_client, voker_server)) == 1  # close() did not record again


async def test_async_break_records_the_partial_output(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(LONG)
    async with awrapped(fake_llm, voker_client) as client:
        stream = await client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True)
        seen = []
        async for chunk in stream:
            seen.append(chunk)
            if len(seen) == 2:
                break
        await stream.close()
        del stream
        gc.collect()
    props = one_event(voker_client, voker_server)["properties"]
    assert _content(props) == chat_text(seen)


def test_resuming_after_a_break_still_gives_the_caller_everything(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(LONG)
    with wrapped(fake_llm, voker_client) as client:
        stream = client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True)
        first = []
        for chunk in stream:
            first.append(chunk)
            break
        rest = list(stream)
    assert chat_text(first + rest) == LONG.text
    assert len(llm_events(voker_client, voker_server)) == 1


def test_close_records_once(fake_llm: Any, voker_client: Any, voker_server: Any) -> None:
    fake_llm.queue_reply(LONG)
    with wrapped(fake_llm, voker_client) as client:
        stream = client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True)
        first, second = next(stream), next(stream)
        stream.close()
        stream.close()
        props = one_event(voker_client, voker_server)["properties"]
    assert _content(props) == chat_text([first, second])


def test_leaving_a_with_block_records_once(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(LONG)
    with wrapped(fake_llm, voker_client) as client:
        with client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True) as stream:
            next(stream)
        one_event(voker_client, voker_server)


async def test_async_close_records_once(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(LONG)
    async with awrapped(fake_llm, voker_client) as client:
        stream = await client.responses.create(**RESPONSES_ARGS, **VOKER, stream=True)
        async with stream:
            await stream.__anext__()
        await stream.close()
    props = one_event(voker_client, voker_server)["properties"]
    assert props["api"] == "openai-responses"
    assert props["output"]["object"] == "response"


@pytest.mark.parametrize("read", [0, 2])
def test_an_abandoned_stream_is_recorded_when_collected(
    read: int, fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(LONG)
    with wrapped(fake_llm, voker_client) as client:
        stream = client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True)
        for _ in range(read):
            next(stream)
        assert llm_events(voker_client, voker_server) == []
        del stream
        gc.collect()
        props = one_event(voker_client, voker_server)["properties"]
    if read:
        assert _content(props) == "one "
    else:
        assert props["output"] is None and props["error"] is None


async def test_an_abandoned_async_stream_is_recorded_when_collected(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(LONG)
    async with awrapped(fake_llm, voker_client) as client:
        stream = await client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True)
        await stream.__anext__()
        await stream.__anext__()
        assert llm_events(voker_client, voker_server) == []
        del stream
        gc.collect()
        props = one_event(voker_client, voker_server)["properties"]
    assert _content(props) == "one "


def test_a_stream_manager_left_early_records_once(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(LONG)
    with wrapped(fake_llm, voker_client) as client:
        with client.chat.completions.stream(**CHAT_ARGS, **VOKER) as stream:
            for event in stream:
                if event.type == "content.delta" and event.delta:
                    break
            snapshot = stream.current_completion_snapshot.choices[0].message.content
        props = one_event(voker_client, voker_server)["properties"]
    assert props["stream"] is True
    assert _content(props) == snapshot == "one "


async def test_an_async_responses_manager_left_early_records_the_partial_response(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(LONG)
    async with awrapped(fake_llm, voker_client) as client:
        async with client.responses.stream(**RESPONSES_ARGS, **VOKER) as stream:
            async for event in stream:
                if event.type == "response.output_text.delta":
                    break
    props = one_event(voker_client, voker_server)["properties"]
    assert props["usage"] is None  # the response never completed
    text = props["output"]["output"][0]["content"][0]["text"]
    assert text == "one "


def test_a_stream_failing_midway_records_the_error_and_reraises(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(Reply(text=LONG.text, disconnect_after=3))
    seen: list[Any] = []
    with wrapped(fake_llm, voker_client) as client:
        stream = client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True)
        with pytest.raises(Exception) as caught:  # the type depends on the SDK: see below
            for chunk in stream:
                seen.append(chunk)
    # openai 3.14+ wraps the dropped connection in APIConnectionError; before, the HTTP
    # library's RemoteProtocolError reaches the caller as it is.
    assert isinstance(caught.value, openai.APIError) or (
        type(caught.value).__name__ == "RemoteProtocolError"
    )
    props = one_event(voker_client, voker_server)["properties"]
    assert props["error"]["type"] == type(caught.value).__name__
    assert props["error"]["message"] == str(caught.value)
    assert _content(props) == chat_text(seen)


def test_get_final_completion_records_once(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with wrapped(fake_llm, voker_client) as client:
        with client.chat.completions.stream(**CHAT_ARGS, **VOKER) as stream:
            final = stream.get_final_completion()
            assert [event.type for event in stream] == []
        props = one_event(voker_client, voker_server)["properties"]
    assert _content(props) == final.choices[0].message.content


async def test_text_deltas_of_an_async_manager_are_intact(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    async with awrapped(fake_llm, voker_client) as client:
        async with client.chat.completions.stream(**CHAT_ARGS, **VOKER) as stream:
            deltas = [e.delta async for e in stream if e.type == "content.delta"]
    assert "".join(deltas) == "Echo: hello there world"
    one_event(voker_client, voker_server)


async def test_async_streams_left_early_and_dropped_still_close_their_responses(
    fake_llm: Any, voker_client: Any, voker_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The everyday ``async for ...: return`` with no ``async with``: the dropped stream, its
    generator and its response are collected together, and the SDK's own ``finally: await
    response.aclose()`` must still reach the real ``aclose`` through our close hook."""

    async def first_word(client: Any) -> str:
        stream = await client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True)
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                return str(chunk.choices[0].delta.content)
        return ""

    client = awrapped(fake_llm, voker_client)
    for _ in range(3):
        fake_llm.queue_reply(LONG)
        assert await first_word(client) == "one "
        gc.collect()
        await asyncio.sleep(0.05)  # let the loop run the generators' closing tasks
    failures = [r for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], TypeError)]
    assert failures == []
    events = llm_events(voker_client, voker_server)
    assert len(events) == 3
    assert all(_content(e["properties"]) == "one " for e in events)


def test_a_finished_stream_frees_its_response_without_the_garbage_collector(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    """The close hook holds its response; the first close undoes that, so a stream read to the
    end (the SDK closes the response then) leaves no cycle behind."""
    fake_llm.queue_reply(LONG)
    client = wrapped(fake_llm, voker_client)
    http_library = next(
        cls.__module__.split(".")[0]
        for cls in type(client._client).__mro__
        if not cls.__module__.startswith("openai")
    )
    if http_library == "httpx":
        # SDKs before the move to httpx2: httpx's own stream and response refer to each other,
        # so only the garbage collector frees a response there, wrapped or not.
        pytest.skip("httpx keeps a read response in a reference cycle of its own")
    gc.disable()
    try:
        stream = client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True)
        response = weakref.ref(stream.response)
        assert chat_text(list(stream)) == "one two three four five six seven eight"
        del stream
        assert response() is None
    finally:
        gc.enable()
    assert len(llm_events(voker_client, voker_server)) == 1
