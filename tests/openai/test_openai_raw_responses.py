"""Raw responses whose body the caller reads itself - ``with_streaming_response``, a
``with_raw_response`` stream: the wrapper reads nothing for the caller (who gets the bytes and
objects the plain SDK gives), and records what the caller read, however it read it, once."""

from __future__ import annotations

import gc
import gzip
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from tests.openai.helpers import (
    CHAT_ARGS,
    HTTP,
    RESPONSES_ARGS,
    VOKER,
    aplain,
    awrapped,
    check_associations,
    check_usage,
    llm_events,
    normalise,
    one_event,
    plain,
    wrapped,
)
from voker_core.ai.provider_openai import OpenAI
from voker_core.testing.fake_llm import Reply

LONG = Reply(text="one two three four five six seven eight")
# A raw chat stream is not given include_usage by the wrapper (the caller would see the extra
# chunk): these callers ask for it themselves.
CHAT_STREAM = {**CHAT_ARGS, "stream": True, "stream_options": {"include_usage": True}}
RESPONSES_STREAM = {**RESPONSES_ARGS, "stream": True}


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Recording what the caller read never logs a problem of ours."""
    with caplog.at_level(logging.WARNING, logger="voker"):
        yield
    assert not [r for r in caplog.get_records("call") if r.name == "voker"], caplog.text


def _json(body: bytes) -> Any:
    return normalise(json.loads(body))


def _sse_data(lines: list[str]) -> list[Any]:
    """The JSON of each ``data:`` line of a stream (``[DONE]`` as it is), without its ids."""
    return [
        line[6:] if line == "data: [DONE]" else normalise(json.loads(line[5:]))
        for line in lines
        if line.startswith("data:")
    ]


def chat_text_of(output: Any) -> Any:
    return output["choices"][0]["message"]["content"]


def responses_text_of(output: Any) -> Any:
    return "".join(
        part["text"]
        for item in output["output"]
        if item["type"] == "message"
        for part in item["content"]
    )


class Surface:
    """One API as the tests drive it through a client."""

    def __init__(
        self,
        name: str,
        api: str,
        resource: Callable[[Any], Any],
        args: dict[str, Any],
        stream_args: dict[str, Any],
        text_of: Callable[[Any], Any],
    ) -> None:
        self.name = name
        self.api = api
        self.resource = resource
        self.args = args
        self.stream_args = stream_args
        self.text_of = text_of


CHAT = Surface(
    "chat",
    "openai-chat-completions",
    lambda client: client.chat.completions,
    CHAT_ARGS,
    CHAT_STREAM,
    chat_text_of,
)
RESPONSES = Surface(
    "responses",
    "openai-responses",
    lambda client: client.responses,
    RESPONSES_ARGS,
    RESPONSES_STREAM,
    responses_text_of,
)
SURFACES = [pytest.param(CHAT, id="chat"), pytest.param(RESPONSES, id="responses")]


def _check_answer(props: dict[str, Any], surface: Surface, reply: Any, *, stream: bool) -> None:
    assert props["api"] == surface.api
    assert props["stream"] is stream
    assert props["error"] is None
    assert props["model"] == surface.args["model"]
    assert surface.text_of(props["output"]) == reply.text
    assert props["finish_reason"] == "stop"
    check_usage(props, reply)


# -- a response without a stream: every way of reading its body ---------------------------------

READS: dict[str, Callable[[Any], Any]] = {
    "parse": lambda response: normalise(response.parse().model_dump(mode="json")),
    "read": lambda response: _json(response.read()),
    "text": lambda response: _json(response.text().encode()),
    "json": lambda response: normalise(response.json()),
    "iter_bytes": lambda response: _json(b"".join(response.iter_bytes())),
    "iter_text": lambda response: _json("".join(response.iter_text()).encode()),
    "iter_lines": lambda response: _json("".join(response.iter_lines()).encode()),
    "iter_raw": lambda response: _json(b"".join(response.http_response.iter_raw())),
}


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("read", READS.values(), ids=READS.keys())
def test_a_streaming_response_body_is_the_callers_to_read(
    fake_llm: Any,
    voker_client: Any,
    voker_server: Any,
    surface: Surface,
    read: Callable[[Any], Any],
) -> None:
    with plain(fake_llm) as plain_client:
        with surface.resource(plain_client).with_streaming_response.create(
            **surface.args
        ) as response:
            expected = read(response)
    with wrapped(fake_llm, voker_client) as client:
        with surface.resource(client).with_streaming_response.create(
            **surface.args, **VOKER
        ) as response:
            assert not response.http_response.is_stream_consumed  # nothing read for us
            assert read(response) == expected
            time.sleep(0.3)  # the caller's own work: not the model's time
    event = one_event(voker_client, voker_server)
    check_associations(event)
    props = event["properties"]
    _check_answer(props, surface, fake_llm.requests[-1].reply, stream=False)
    assert 0 < props["latency_ms"] < 300


ASYNC_READS: dict[str, Callable[[Any], Any]] = {
    "parse": lambda response: response.parse(),
    "read": lambda response: response.read(),
    "text": lambda response: response.text(),
    "json": lambda response: response.json(),
}


async def _async_body(response: Any, how: str) -> Any:
    """The caller's reading of an async response's body, as comparable JSON."""
    if how == "parse":
        return normalise((await response.parse()).model_dump(mode="json"))
    if how == "read":
        return _json(await response.read())
    if how == "text":
        return _json((await response.text()).encode())
    if how == "json":
        return normalise(await response.json())
    if how == "iter_bytes":
        return _json(b"".join([chunk async for chunk in response.iter_bytes()]))
    if how == "iter_lines":
        return _json("".join([line async for line in response.iter_lines()]).encode())
    assert how == "aiter_raw"
    return _json(b"".join([chunk async for chunk in response.http_response.aiter_raw()]))


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize(
    "how", ["parse", "read", "text", "json", "iter_bytes", "iter_lines", "aiter_raw"]
)
async def test_an_async_streaming_response_body_is_the_callers_to_read(
    fake_llm: Any, voker_client: Any, voker_server: Any, surface: Surface, how: str
) -> None:
    async def read(client: Any, voker: dict[str, Any]) -> Any:
        async with surface.resource(client).with_streaming_response.create(
            **surface.args, **voker
        ) as response:
            assert not response.http_response.is_stream_consumed
            return await _async_body(response, how)

    async with aplain(fake_llm) as plain_client:
        expected = await read(plain_client, {})
    async with awrapped(fake_llm, voker_client) as client:
        assert await read(client, VOKER) == expected
    props = one_event(voker_client, voker_server)["properties"]
    _check_answer(props, surface, fake_llm.requests[-1].reply, stream=False)


@pytest.mark.parametrize("surface", SURFACES)
def test_a_body_never_read_records_timing_only(
    fake_llm: Any, voker_client: Any, voker_server: Any, surface: Surface
) -> None:
    with wrapped(fake_llm, voker_client) as client:
        with surface.resource(client).with_streaming_response.create(
            **surface.args, **VOKER
        ) as response:
            assert response.status_code == 200
            time.sleep(0.3)
    props = one_event(voker_client, voker_server)["properties"]
    assert props["error"] is None
    assert (props["output"], props["usage"], props["finish_reason"]) == (None, None, None)
    assert 0 < props["latency_ms"] < 300  # to the answer's headers, not to the block's end


async def test_an_async_stream_never_read_records_timing_only(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    async with awrapped(fake_llm, voker_client) as client:
        async with client.chat.completions.with_streaming_response.create(
            **CHAT_STREAM, **VOKER
        ) as response:
            assert response.status_code == 200
            time.sleep(0.3)
    props = one_event(voker_client, voker_server)["properties"]
    assert props["stream"] is True
    assert (props["output"], props["usage"], props["finish_reason"]) == (None, None, None)
    assert props["time_to_first_token_ms"] is None
    assert 0 < props["latency_ms"] < 300


def test_a_dropped_response_is_recorded_once_when_collected(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with wrapped(fake_llm, voker_client) as client:
        manager = client.chat.completions.with_streaming_response.create(**CHAT_ARGS, **VOKER)
        response = manager.__enter__()
        assert response.parse().choices[0].message.content == "Echo: hello there world"
        del manager, response
        gc.collect()
        props = one_event(voker_client, voker_server)["properties"]
    assert chat_text_of(props["output"]) == "Echo: hello there world"
    assert len(llm_events(voker_client, voker_server)) == 1


def _mock_client(voker_client: Any, answer: Callable[[Any], Any]) -> OpenAI:
    http_client = HTTP.Client(transport=HTTP.MockTransport(answer))
    return OpenAI(api_key="k", max_retries=0, http_client=http_client, voker_client=voker_client)


def test_a_compressed_body_is_recorded_decoded(voker_client: Any, voker_server: Any) -> None:
    completion = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4.1-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "squeezed"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }

    def answer(request: Any) -> Any:
        body = gzip.compress(json.dumps(completion).encode())
        headers = {"content-type": "application/json", "content-encoding": "gzip"}
        return HTTP.Response(200, headers=headers, stream=HTTP.ByteStream(body))

    with _mock_client(voker_client, answer) as client:
        with client.chat.completions.with_streaming_response.create(
            **CHAT_ARGS, **VOKER
        ) as response:
            assert b"".join(response.iter_bytes()) == json.dumps(completion).encode()
    props = one_event(voker_client, voker_server)["properties"]
    assert chat_text_of(props["output"]) == "squeezed"
    assert props["usage"]["output_tokens"] == 1
    assert props["finish_reason"] == "stop"


# -- a stream read raw ---------------------------------------------------------------------------


@pytest.mark.parametrize("surface", SURFACES)
def test_a_stream_read_as_raw_lines_is_recorded(
    fake_llm: Any, voker_client: Any, voker_server: Any, surface: Surface
) -> None:
    fake_llm.queue_reply(LONG, times=2)
    with plain(fake_llm) as plain_client:
        with surface.resource(plain_client).with_streaming_response.create(
            **surface.stream_args
        ) as response:
            expected = _sse_data(list(response.iter_lines()))
    with wrapped(fake_llm, voker_client) as client:
        with surface.resource(client).with_streaming_response.create(
            **surface.stream_args, **VOKER
        ) as response:
            assert _sse_data(list(response.iter_lines())) == expected
    event = one_event(voker_client, voker_server)
    check_associations(event)
    props = event["properties"]
    _check_answer(props, surface, fake_llm.requests[-1].reply, stream=True)
    assert 0 < props["time_to_first_token_ms"] <= props["latency_ms"]
    if surface is RESPONSES:  # the completed response, as the stream's last event has it
        final = expected[-1]["response"]
        output = normalise(props["output"])
        for key in ("object", "status", "model", "tools", "metadata"):
            assert output[key] == final[key], key


@pytest.mark.parametrize("surface", SURFACES)
async def test_an_async_stream_read_as_raw_lines_is_recorded(
    fake_llm: Any, voker_client: Any, voker_server: Any, surface: Surface
) -> None:
    async def lines(client: Any, voker: dict[str, Any]) -> list[Any]:
        async with surface.resource(client).with_streaming_response.create(
            **surface.stream_args, **voker
        ) as response:
            return _sse_data([line async for line in response.iter_lines()])

    async with aplain(fake_llm) as plain_client:
        expected = await lines(plain_client, {})
    async with awrapped(fake_llm, voker_client) as client:
        assert await lines(client, VOKER) == expected
    props = one_event(voker_client, voker_server)["properties"]
    _check_answer(props, surface, fake_llm.requests[-1].reply, stream=True)
    assert 0 < props["time_to_first_token_ms"] <= props["latency_ms"]


@pytest.mark.parametrize("surface", SURFACES)
def test_a_parsed_streaming_response_is_the_sdks_stream(
    fake_llm: Any, voker_client: Any, voker_server: Any, surface: Surface
) -> None:
    with plain(fake_llm) as plain_client:
        with surface.resource(plain_client).with_streaming_response.create(
            **surface.stream_args
        ) as response:
            expected = [normalise(item.to_dict()) for item in response.parse()]
    with wrapped(fake_llm, voker_client) as client:
        with surface.resource(client).with_streaming_response.create(
            **surface.stream_args, **VOKER
        ) as response:
            stream = response.parse()
            assert type(stream) is openai.Stream
            assert [normalise(item.to_dict()) for item in stream] == expected
    props = one_event(voker_client, voker_server)["properties"]
    _check_answer(props, surface, fake_llm.requests[-1].reply, stream=True)


async def test_an_async_parsed_streaming_response_is_the_sdks_stream(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    async with awrapped(fake_llm, voker_client) as client:
        async with client.responses.with_streaming_response.create(
            **RESPONSES_STREAM, **VOKER
        ) as response:
            stream = await response.parse()
            assert type(stream) is openai.AsyncStream
            events = [event async for event in stream]
    assert events[-1].type == "response.completed"
    props = one_event(voker_client, voker_server)["properties"]
    _check_answer(props, RESPONSES, fake_llm.requests[-1].reply, stream=True)


@pytest.mark.parametrize("surface", SURFACES)
def test_a_raw_stream_left_early_records_what_was_read(
    fake_llm: Any, voker_client: Any, voker_server: Any, surface: Surface
) -> None:
    fake_llm.queue_reply(Reply(text=LONG.text, chunk_delay=0.05))
    with wrapped(fake_llm, voker_client) as client:
        with surface.resource(client).with_streaming_response.create(
            **surface.stream_args, **VOKER
        ) as response:
            deltas = 0
            for line in response.iter_lines():
                if '"content":"one' in line or '"delta":"one' in line:
                    deltas += 1
                    break  # the first word read
    assert deltas == 1
    props = one_event(voker_client, voker_server)["properties"]
    assert props["error"] is None
    assert props["model"] == surface.args["model"]
    assert props["finish_reason"] is None  # the answer never finished
    assert props["usage"] is None
    text = surface.text_of(props["output"])
    assert text and LONG.text.startswith(text) and text != LONG.text
    assert len(llm_events(voker_client, voker_server)) == 1


@pytest.mark.parametrize("surface", SURFACES)
def test_a_raw_stream_of_with_raw_response_read_as_lines_is_recorded(
    fake_llm: Any, voker_client: Any, voker_server: Any, surface: Surface
) -> None:
    with wrapped(fake_llm, voker_client) as client:
        raw = surface.resource(client).with_raw_response.create(**surface.stream_args, **VOKER)
        lines = list(raw.http_response.iter_lines())
    assert lines[-2] == "data: [DONE]" or '"response.completed"' in lines[-2]
    props = one_event(voker_client, voker_server)["properties"]
    _check_answer(props, surface, fake_llm.requests[-1].reply, stream=True)


def test_a_raw_stream_of_with_raw_response_parsed_is_recorded(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with wrapped(fake_llm, voker_client) as client:
        raw = client.chat.completions.with_raw_response.create(**CHAT_STREAM, **VOKER)
        stream = raw.parse()
        assert type(stream) is openai.Stream
        chunks = list(stream)
    assert chunks[-1].usage is not None  # the caller's own include_usage
    props = one_event(voker_client, voker_server)["properties"]
    _check_answer(props, CHAT, fake_llm.requests[-1].reply, stream=True)


async def test_an_async_raw_stream_of_with_raw_response_is_recorded_however_it_is_read(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    async with awrapped(fake_llm, voker_client) as client:
        raw = await client.responses.with_raw_response.create(**RESPONSES_STREAM, **VOKER)
        lines = [line async for line in raw.http_response.aiter_lines()]
        raw = await client.chat.completions.with_raw_response.create(**CHAT_STREAM, **VOKER)
        stream = raw.parse()
        assert type(stream) is openai.AsyncStream
        chunks = [chunk async for chunk in stream]
    assert any('"response.completed"' in line for line in lines)
    assert chunks[-1].usage is not None
    events = llm_events(voker_client, voker_server)
    assert [e["properties"]["api"] for e in events] == [RESPONSES.api, CHAT.api]
    reply = fake_llm.requests[-1].reply
    _check_answer(events[0]["properties"], RESPONSES, fake_llm.requests[0].reply, stream=True)
    _check_answer(events[1]["properties"], CHAT, reply, stream=True)


@pytest.mark.parametrize("surface", SURFACES)
def test_a_raw_stream_cut_midway_records_the_error_the_caller_got(
    fake_llm: Any, voker_client: Any, voker_server: Any, surface: Surface
) -> None:
    def read(client: Any, voker: dict[str, Any]) -> BaseException:
        with pytest.raises(HTTP.HTTPError) as error:
            with surface.resource(client).with_streaming_response.create(
                **surface.stream_args, **voker
            ) as response:
                list(response.iter_lines())
        return error.value

    # Past the first words: a Responses stream opens with four events that carry no text.
    cut = 4 if surface is CHAT else 7
    fake_llm.queue_reply(Reply(text=LONG.text, disconnect_after=cut), times=2)
    with plain(fake_llm) as plain_client:
        expected = read(plain_client, {})
    with wrapped(fake_llm, voker_client) as client:
        got = read(client, VOKER)
    assert type(got) is type(expected)
    props = one_event(voker_client, voker_server)["properties"]
    assert props["error"]["type"] == type(got).__name__
    text = surface.text_of(props["output"])
    assert text and LONG.text.startswith(text)


def test_an_error_event_in_a_raw_responses_stream_is_recorded(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(Reply(failed=True, error_message="The model fell over"))
    with wrapped(fake_llm, voker_client) as client:
        with client.responses.with_streaming_response.create(
            **RESPONSES_STREAM, **VOKER
        ) as response:
            lines = list(response.iter_lines())
    assert "event: error" in lines
    props = one_event(voker_client, voker_server)["properties"]
    assert props["error"] == {
        "type": "server_error",
        "message": "The model fell over",
        "status_code": None,
    }
    assert props["finish_reason"] == "error"
    assert responses_text_of(props["output"]) == "Echo: hello there world"  # came before it


_CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "gpt-4.1-mini",
}


def _sse(*payloads: Any) -> bytes:
    return b"".join(
        b"data: " + (p if isinstance(p, bytes) else json.dumps(p).encode()) + b"\n\n"
        for p in payloads
    )


def _failing_chat_stream(request: Any) -> Any:
    body = _sse(
        {**_CHUNK, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hal"}}]},
        {"error": {"message": "Upstream went away", "type": "server_error", "code": None}},
        b"[DONE]",
    )
    headers = {"content-type": "text/event-stream"}
    return HTTP.Response(200, headers=headers, stream=HTTP.ByteStream(body))


def test_an_error_in_a_raw_chat_stream_is_recorded_however_it_is_read(
    voker_client: Any, voker_server: Any
) -> None:
    with _mock_client(voker_client, _failing_chat_stream) as client:
        with client.chat.completions.with_streaming_response.create(
            **CHAT_ARGS, **VOKER, stream=True
        ) as response:
            with pytest.raises(openai.APIError, match="Upstream went away"):
                list(response.parse())
        with client.chat.completions.with_streaming_response.create(
            **CHAT_ARGS, **VOKER, stream=True
        ) as response:
            assert any("Upstream went away" in line for line in response.iter_lines())
    events = llm_events(voker_client, voker_server)
    assert len(events) == 2
    for event in events:
        props = event["properties"]
        assert props["error"] == {
            "type": "server_error",
            "message": "Upstream went away",
            "status_code": None,
        }
        assert chat_text_of(props["output"]) == "Hal"


def test_a_parse_helper_streaming_response_records_the_completion(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with wrapped(fake_llm, voker_client) as client:
        with client.chat.completions.with_streaming_response.parse(
            **CHAT_ARGS, **VOKER
        ) as response:
            body: Any = response.json()
    props = one_event(voker_client, voker_server)["properties"]
    assert chat_text_of(props["output"]) == body["choices"][0]["message"]["content"]
    check_usage(props, fake_llm.requests[-1].reply)


@pytest.mark.skipif(
    not hasattr(openai.resources.beta, "responses"), reason="this openai SDK has no beta.responses"
)
def test_beta_responses_streaming_response_is_recorded_however_it_is_read(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with wrapped(fake_llm, voker_client) as client:
        with client.beta.responses.with_streaming_response.create(
            **RESPONSES_STREAM, **VOKER
        ) as response:
            lines = list(response.iter_lines())
        with client.beta.responses.with_streaming_response.create(
            **RESPONSES_ARGS, **VOKER
        ) as response:
            body = b"".join(response.iter_bytes())
    assert any('"response.completed"' in line for line in lines)
    assert json.loads(body)["status"] == "completed"
    events = llm_events(voker_client, voker_server)
    assert [e["properties"]["stream"] for e in events] == [True, False]
    for event, request in zip(events, fake_llm.requests, strict=True):
        _check_answer(event["properties"], RESPONSES, request.reply, stream=request.stream)
