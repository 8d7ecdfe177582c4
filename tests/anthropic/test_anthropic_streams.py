"""Anthropic streams are recorded exactly once however they end: exhausted, broken out of,
closed, abandoned (garbage-collected), or failing mid-stream - with the partial output."""

from __future__ import annotations

import gc
from typing import Any

import anthropic
import pytest

from tests.anthropic.helpers import (
    ARGS,
    VOKER,
    awrapped,
    check_associations,
    llm_events,
    one_event,
    text_of,
    wrapped,
)
from voker_core.testing.fake_llm import Reply, ToolCall

LONG = Reply(text="one two three four five six seven eight")


def _deltas(events: list[Any]) -> str:
    return "".join(
        e.delta.text
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )


def _first_deltas(stream: Any, count: int) -> list[Any]:
    """Iterate until ``count`` text deltas were seen, then break out of the loop."""
    seen = []
    deltas = 0
    for event in stream:
        seen.append(event)
        if event.type == "content_block_delta":
            deltas += 1
            if deltas == count:
                break
    return seen


def test_breaking_out_after_two_deltas_records_the_partial_output(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(LONG)
    with wrapped(fake_llm, voker_client) as client:
        stream = client.messages.create(**ARGS, **VOKER, stream=True)
        seen = _first_deltas(stream, 2)
        event = one_event(voker_client, voker_server)  # recorded at the break, stream alive
        stream.close()
    props = event["properties"]
    check_associations(event)
    assert props["error"] is None
    assert text_of(props["output"]) == _deltas(seen) == "one two "
    assert props["finish_reason"] is None  # the message never finished
    assert 0 < props["time_to_first_token_ms"] <= props["latency_ms"]
    assert len(llm_events(voker_client, voker_server)) == 1  # close() did not record again


async def test_async_break_records_the_partial_output(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(LONG)
    async with awrapped(fake_llm, voker_client) as client:
        stream = await client.messages.create(**ARGS, **VOKER, stream=True)
        seen = []
        async for event in stream:
            seen.append(event)
            if event.type == "content_block_delta":
                break
        await stream.close()
        del stream
        gc.collect()
    props = one_event(voker_client, voker_server)["properties"]
    assert text_of(props["output"]) == _deltas(seen) == "one "


def test_a_stream_helper_left_early_records_once(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(LONG)
    with wrapped(fake_llm, voker_client) as client:
        with client.messages.stream(**ARGS, **VOKER) as stream:
            texts = []
            for text in stream.text_stream:
                texts.append(text)
                if len(texts) == 3:
                    break
        props = one_event(voker_client, voker_server)["properties"]
    assert props["stream"] is True
    assert text_of(props["output"]) == "".join(texts) == "one two three "


async def test_an_async_beta_stream_helper_left_early_records_once(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(LONG)
    async with awrapped(fake_llm, voker_client) as client:
        async with client.beta.messages.stream(**ARGS, **VOKER) as stream:
            async for text in stream.text_stream:
                assert text == "one "
                break
    props = one_event(voker_client, voker_server)["properties"]
    assert props["api"] == "anthropic-beta-messages"
    assert text_of(props["output"]) == "one "


def test_resuming_after_a_break_still_gives_the_caller_everything(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(LONG)
    with wrapped(fake_llm, voker_client) as client:
        stream = client.messages.create(**ARGS, **VOKER, stream=True)
        first = _first_deltas(stream, 1)
        rest = list(stream)
    assert _deltas(first + rest) == LONG.text
    assert len(llm_events(voker_client, voker_server)) == 1


def test_close_records_once(fake_llm: Any, voker_client: Any, voker_server: Any) -> None:
    fake_llm.queue_reply(LONG)
    with wrapped(fake_llm, voker_client) as client:
        stream = client.messages.create(**ARGS, **VOKER, stream=True)
        seen = [next(stream) for _ in range(4)]  # start, block start, two deltas
        stream.close()
        stream.close()
        props = one_event(voker_client, voker_server)["properties"]
    assert text_of(props["output"]) == _deltas(seen) == "one two "


@pytest.mark.parametrize("read", [0, 3])
def test_an_abandoned_stream_is_recorded_when_collected(
    read: int, fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(LONG)
    with wrapped(fake_llm, voker_client) as client:
        stream = client.messages.create(**ARGS, **VOKER, stream=True)
        for _ in range(read):
            next(stream)
        assert llm_events(voker_client, voker_server) == []
        del stream
        gc.collect()
        props = one_event(voker_client, voker_server)["properties"]
    if read:
        assert text_of(props["output"]) == "one "
    else:
        assert props["output"] is None and props["error"] is None


def test_a_stream_failing_midway_records_the_error_and_reraises(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(Reply(text=LONG.text, disconnect_after=5))
    seen: list[Any] = []
    with wrapped(fake_llm, voker_client) as client:
        stream = client.messages.create(**ARGS, **VOKER, stream=True)
        # The SDK lets the transport's error through (httpx2.RemoteProtocolError).
        with pytest.raises(Exception) as caught:
            for event in stream:
                seen.append(event)
    props = one_event(voker_client, voker_server)["properties"]
    assert props["error"]["type"] == type(caught.value).__name__
    assert props["error"]["message"] == str(caught.value)
    assert text_of(props["output"]) == _deltas(seen)


async def test_an_async_stream_helper_failing_midway_records_the_error(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(Reply(text=LONG.text, disconnect_after=5))
    async with awrapped(fake_llm, voker_client) as client:
        with pytest.raises(Exception) as caught:
            async with client.messages.stream(**ARGS, **VOKER) as stream:
                await stream.get_final_message()
    props = one_event(voker_client, voker_server)["properties"]
    assert props["error"]["type"] == type(caught.value).__name__
    assert props["stream"] is True


def test_get_final_message_and_until_done_record_once(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with wrapped(fake_llm, voker_client) as client:
        with client.messages.stream(**ARGS, **VOKER) as stream:
            stream.until_done()
            final = stream.get_final_message()
            assert stream.get_final_text() == "Echo: hello there world"
            assert list(stream) == []
        props = one_event(voker_client, voker_server)["properties"]
    assert text_of(props["output"]) == final.content[0].text


def test_tool_use_is_assembled_from_a_stream(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(Reply(tool_calls=[ToolCall("get_weather", {"city": "Paris"})]))
    with wrapped(fake_llm, voker_client) as client:
        with client.messages.stream(**ARGS, **VOKER) as stream:
            final = stream.get_final_message()
        props = one_event(voker_client, voker_server)["properties"]
    assert props["finish_reason"] == "tool_calls"
    [block] = props["output"]["content"]
    assert block["type"] == "tool_use"
    assert block["input"] == {"city": "Paris"}
    assert block["id"] == final.content[0].id


def test_a_stream_manager_never_entered_sends_and_records_nothing(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with wrapped(fake_llm, voker_client) as client:
        manager = client.messages.stream(**ARGS, **VOKER)
        del manager
        gc.collect()
    assert fake_llm.requests == []
    assert llm_events(voker_client, voker_server) == []


def test_a_manager_whose_request_fails_records_the_error(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(error_status=500)
    with wrapped(fake_llm, voker_client) as client:
        with pytest.raises(anthropic.InternalServerError) as caught:
            with client.messages.stream(**ARGS, **VOKER):
                pass
    props = one_event(voker_client, voker_server)["properties"]
    assert props["error"] == {
        "type": "InternalServerError",
        "message": str(caught.value),
        "status_code": 500,
    }
