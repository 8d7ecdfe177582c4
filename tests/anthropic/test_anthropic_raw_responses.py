"""Raw responses whose body the caller reads itself - ``with_streaming_response``, a
``with_raw_response`` stream: the wrapper reads nothing for the caller (who gets the bytes and
objects the plain SDK gives), and records what the caller read, however it read it, once."""

from __future__ import annotations

import gc
import gzip
import json
import time
from collections.abc import Callable
from typing import Any

import anthropic
import httpx2
import pytest

from tests.anthropic.helpers import (
    ARGS,
    VOKER,
    aplain,
    awrapped,
    check_associations,
    check_usage,
    llm_events,
    normalise,
    one_event,
    plain,
    text_of,
    wrapped,
)
from voker_core.ai.provider_anthropic import Anthropic
from voker_core.testing.fake_llm import Reply

LONG = Reply(text="one two three four five six seven eight")


def _json(body: bytes) -> Any:
    return normalise(json.loads(body))


def _sse_data(lines: list[str]) -> list[Any]:
    """The JSON of each ``data:`` line of a stream, without its ids."""
    return [normalise(json.loads(line[5:])) for line in lines if line.startswith("data:")]


# -- a message (no stream): every way of reading its body --------------------------------------

READS: dict[str, Callable[[Any], Any]] = {
    "parse": lambda response: response.parse().model_dump(mode="json"),
    "read": lambda response: _json(response.read()),
    "text": lambda response: _json(response.text().encode()),
    "json": lambda response: normalise(response.json()),
    "iter_bytes": lambda response: _json(b"".join(response.iter_bytes())),
    "iter_lines": lambda response: _json("".join(response.iter_lines()).encode()),
    "iter_raw": lambda response: _json(b"".join(response.http_response.iter_raw())),
}


@pytest.mark.parametrize("read", READS.values(), ids=READS.keys())
def test_a_streaming_response_body_is_the_callers_to_read(
    fake_llm: Any, voker_client: Any, voker_server: Any, read: Callable[[Any], Any]
) -> None:
    with plain(fake_llm) as plain_client:
        with plain_client.messages.with_streaming_response.create(**ARGS) as response:
            expected = normalise(read(response))
    with wrapped(fake_llm, voker_client) as client:
        with client.messages.with_streaming_response.create(**ARGS, **VOKER) as response:
            assert not response.http_response.is_stream_consumed  # nothing read for us
            assert normalise(read(response)) == expected
            time.sleep(0.3)  # the caller's own work: not the model's time
    reply = fake_llm.requests[-1].reply
    event = one_event(voker_client, voker_server)
    check_associations(event)
    props = event["properties"]
    assert props["api"] == "anthropic-messages"
    assert props["stream"] is False
    assert props["error"] is None
    assert text_of(props["output"]) == "Echo: hello there world"
    assert props["finish_reason"] == "stop"
    check_usage(props, reply)
    assert 0 < props["latency_ms"] < 300


async def test_an_async_streaming_response_read_raw_gives_the_callers_bytes(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    async def read(client: Any, voker: dict[str, Any]) -> Any:
        async with client.messages.with_streaming_response.create(**ARGS, **voker) as response:
            return _json(b"".join([chunk async for chunk in response.http_response.aiter_raw()]))

    async with aplain(fake_llm) as plain_client:
        expected = await read(plain_client, {})
    async with awrapped(fake_llm, voker_client) as client:
        assert await read(client, VOKER) == expected
    props = one_event(voker_client, voker_server)["properties"]
    assert text_of(props["output"]) == "Echo: hello there world"
    check_usage(props, fake_llm.requests[-1].reply)


def test_a_body_never_read_records_timing_only(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with wrapped(fake_llm, voker_client) as client:
        with client.messages.with_streaming_response.create(**ARGS, **VOKER) as response:
            assert response.status_code == 200
            time.sleep(0.3)
    props = one_event(voker_client, voker_server)["properties"]
    assert props["error"] is None
    assert (props["output"], props["usage"], props["finish_reason"]) == (None, None, None)
    assert 0 < props["latency_ms"] < 300  # to the answer's headers, not to the block's end


def test_a_dropped_response_is_recorded_once_when_collected(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with wrapped(fake_llm, voker_client) as client:
        manager = client.messages.with_streaming_response.create(**ARGS, **VOKER)
        response = manager.__enter__()
        assert response.parse().content[0].text == "Echo: hello there world"
        del manager, response
        gc.collect()
        props = one_event(voker_client, voker_server)["properties"]
    assert text_of(props["output"]) == "Echo: hello there world"
    assert len(llm_events(voker_client, voker_server)) == 1


def test_a_compressed_body_is_recorded_decoded(voker_client: Any, voker_server: Any) -> None:
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": [{"type": "text", "text": "squeezed"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 1},
    }

    def answer(request: httpx2.Request) -> httpx2.Response:
        body = gzip.compress(json.dumps(message).encode())
        headers = {"content-type": "application/json", "content-encoding": "gzip"}
        return httpx2.Response(200, headers=headers, stream=httpx2.ByteStream(body))

    http_client = httpx2.Client(transport=httpx2.MockTransport(answer))
    client = Anthropic(
        api_key="k", max_retries=0, http_client=http_client, voker_client=voker_client
    )
    with client.messages.with_streaming_response.create(**ARGS, **VOKER) as response:
        assert response.parse().content[0].text == "squeezed"
    props = one_event(voker_client, voker_server)["properties"]
    assert text_of(props["output"]) == "squeezed"
    assert props["usage"]["output_tokens"] == 1


# -- a stream read raw ---------------------------------------------------------------------------


def test_a_stream_read_as_raw_lines_is_recorded(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(LONG, times=2)
    with plain(fake_llm) as plain_client:
        with plain_client.messages.with_streaming_response.create(**ARGS, stream=True) as response:
            expected = _sse_data(list(response.iter_lines()))
    with wrapped(fake_llm, voker_client) as client:
        with client.messages.with_streaming_response.create(
            **ARGS, **VOKER, stream=True
        ) as response:
            assert _sse_data(list(response.iter_lines())) == expected
    reply = fake_llm.requests[-1].reply
    event = one_event(voker_client, voker_server)
    check_associations(event)
    props = event["properties"]
    assert props["stream"] is True
    assert props["error"] is None
    assert text_of(props["output"]) == LONG.text
    assert props["model"] == ARGS["model"]
    assert props["finish_reason"] == "stop"
    check_usage(props, reply)
    assert 0 < props["time_to_first_token_ms"] <= props["latency_ms"]


async def test_an_async_stream_read_as_raw_lines_is_recorded(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    async def lines(client: Any, voker: dict[str, Any]) -> list[Any]:
        async with client.messages.with_streaming_response.create(
            **ARGS, **voker, stream=True
        ) as response:
            return _sse_data([line async for line in response.iter_lines()])

    async with aplain(fake_llm) as plain_client:
        expected = await lines(plain_client, {})
    async with awrapped(fake_llm, voker_client) as client:
        assert await lines(client, VOKER) == expected
    props = one_event(voker_client, voker_server)["properties"]
    assert text_of(props["output"]) == "Echo: hello there world"
    assert props["finish_reason"] == "stop"
    check_usage(props, fake_llm.requests[-1].reply)


def test_a_parsed_streaming_response_is_the_sdks_stream(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with wrapped(fake_llm, voker_client) as client:
        with client.beta.messages.with_streaming_response.create(
            **ARGS, **VOKER, stream=True
        ) as response:
            stream = response.parse()
            assert type(stream) is anthropic.Stream
            events = list(stream)
    assert events[-1].type == "message_stop"
    props = one_event(voker_client, voker_server)["properties"]
    assert props["api"] == "anthropic-beta-messages"
    assert text_of(props["output"]) == "Echo: hello there world"
    assert props["finish_reason"] == "stop"


def test_a_raw_stream_left_early_records_what_was_read(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(Reply(text=LONG.text, chunk_delay=0.05))
    with wrapped(fake_llm, voker_client) as client:
        with client.messages.with_streaming_response.create(
            **ARGS, **VOKER, stream=True
        ) as response:
            for line in response.iter_lines():
                if '"text_delta"' in line:
                    break  # one delta read
    props = one_event(voker_client, voker_server)["properties"]
    assert props["error"] is None
    assert props["model"] == ARGS["model"]
    assert LONG.text.startswith(text_of(props["output"]))
    assert text_of(props["output"]) != LONG.text
    assert props["finish_reason"] is None  # the message never finished
    assert len(llm_events(voker_client, voker_server)) == 1


def test_a_raw_stream_of_with_raw_response_read_as_lines_is_recorded(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with wrapped(fake_llm, voker_client) as client:
        raw = client.messages.with_raw_response.create(**ARGS, **VOKER, stream=True)
        lines = list(raw.http_response.iter_lines())
    assert lines[-2] == 'data: {"type":"message_stop"}'
    props = one_event(voker_client, voker_server)["properties"]
    assert text_of(props["output"]) == "Echo: hello there world"
    assert props["finish_reason"] == "stop"


def test_a_raw_stream_cut_midway_records_the_error_the_caller_got(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    def read(client: Any, voker: dict[str, Any]) -> BaseException:
        with pytest.raises(httpx2.HTTPError) as error:
            with client.messages.with_streaming_response.create(
                **ARGS, **voker, stream=True
            ) as response:
                list(response.iter_lines())
        return error.value

    fake_llm.queue_reply(Reply(text=LONG.text, disconnect_after=4), times=2)
    with plain(fake_llm) as plain_client:
        expected = read(plain_client, {})
    with wrapped(fake_llm, voker_client) as client:
        got = read(client, VOKER)
    assert type(got) is type(expected)
    props = one_event(voker_client, voker_server)["properties"]
    assert props["error"]["type"] == type(got).__name__
    assert LONG.text.startswith(text_of(props["output"]))


def test_an_error_event_in_a_raw_stream_is_recorded(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(Reply(failed=True, error_message="Overloaded right now"))
    with wrapped(fake_llm, voker_client) as client:
        with client.messages.with_streaming_response.create(
            **ARGS, **VOKER, stream=True
        ) as response:
            lines = list(response.iter_lines())
    assert "event: error" in lines
    props = one_event(voker_client, voker_server)["properties"]
    assert props["error"] == {
        "type": "overloaded_error",
        "message": "Overloaded right now",
        "status_code": None,
    }
    assert text_of(props["output"]) == "Echo: hello there world"  # what came before it


async def test_an_error_event_in_a_parsed_stream_is_recorded_as_raised(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(Reply(failed=True, error_message="Overloaded right now"))
    async with awrapped(fake_llm, voker_client) as client:
        stream = await client.messages.create(**ARGS, **VOKER, stream=True)
        with pytest.raises(anthropic.APIStatusError, match="Overloaded right now"):
            [event async for event in stream]
    props = one_event(voker_client, voker_server)["properties"]
    assert props["error"]["type"] == "APIStatusError"
    assert text_of(props["output"]) == "Echo: hello there world"
