"""Every wrapped surface, sync and async, streaming and not: one complete event per call, and
the caller sees exactly what the unwrapped client shows on the same fake server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import openai
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from pydantic import BaseModel

from tests.openai.helpers import (
    CHAT_ARGS,
    EVENT_KEYS,
    MESSAGES,
    RESPONSES_ARGS,
    VOKER,
    aplain,
    awrapped,
    check_associations,
    check_usage,
    chunk_fields,
    dump,
    normalise,
    one_event,
    plain,
    wrapped,
)
from voker_core.testing.fake_llm import Usage


class Answer(BaseModel):
    text: str


@dataclass
class Observed:
    result: Any  # everything the caller saw, as JSON
    final: Any  # the final response, as JSON


def _chat_final(chunks: list[Any]) -> Any:
    """The final completion the SDK's own accumulator makes of the caller's chunks."""
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(chunk)
    return dump(state.get_final_completion())


def chat_view(completion: dict[str, Any]) -> dict[str, Any]:
    """What a streamed chat completion has to agree on (the SDK's accumulator adds ``parsed``)."""
    return {
        "id": completion["id"],
        "model": completion["model"],
        "choices": [
            {
                "index": choice["index"],
                "finish_reason": choice["finish_reason"],
                "role": choice["message"]["role"],
                "content": choice["message"]["content"],
                "tool_calls": choice["message"].get("tool_calls"),
            }
            for choice in completion["choices"]
        ],
    }


def exact_view(response: Any) -> Any:
    """The whole response, minus the ``parsed`` fields only the SDK's helpers fill in."""
    if isinstance(response, dict):
        return {k: exact_view(v) for k, v in response.items() if k != "parsed"}
    if isinstance(response, list):
        return [exact_view(v) for v in response]
    return response


# -- the surfaces ---------------------------------------------------------------------------------


def chat_create(client: Any, voker: dict[str, Any]) -> Observed:
    result = client.chat.completions.create(**CHAT_ARGS, **voker)
    assert isinstance(result, openai.types.chat.ChatCompletion)
    return Observed(dump(result), dump(result))


async def achat_create(client: Any, voker: dict[str, Any]) -> Observed:
    result = await client.chat.completions.create(**CHAT_ARGS, **voker)
    return Observed(dump(result), dump(result))


def chat_create_stream(client: Any, voker: dict[str, Any]) -> Observed:
    stream = client.chat.completions.create(**CHAT_ARGS, **voker, stream=True)
    assert isinstance(stream, openai.Stream)
    with stream:
        chunks = list(stream)
    return Observed(dump(chunks), _chat_final(chunks))


async def achat_create_stream(client: Any, voker: dict[str, Any]) -> Observed:
    stream = await client.chat.completions.create(**CHAT_ARGS, **voker, stream=True)
    assert isinstance(stream, openai.AsyncStream)
    async with stream:
        chunks = [chunk async for chunk in stream]
    return Observed(dump(chunks), _chat_final(chunks))


def chat_parse(client: Any, voker: dict[str, Any]) -> Observed:
    result = client.chat.completions.parse(**CHAT_ARGS, **voker, response_format=Answer)
    assert isinstance(result.choices[0].message.parsed, Answer)
    return Observed(dump(result), dump(result))


async def achat_parse(client: Any, voker: dict[str, Any]) -> Observed:
    result = await client.chat.completions.parse(**CHAT_ARGS, **voker, response_format=Answer)
    assert isinstance(result.choices[0].message.parsed, Answer)
    return Observed(dump(result), dump(result))


def chat_stream(client: Any, voker: dict[str, Any]) -> Observed:
    with client.chat.completions.stream(**CHAT_ARGS, **voker) as stream:
        events = [dump(event) for event in stream]
        final = dump(stream.get_final_completion())
    return Observed([*events, final], final)


async def achat_stream(client: Any, voker: dict[str, Any]) -> Observed:
    async with client.chat.completions.stream(**CHAT_ARGS, **voker) as stream:
        events = [dump(event) async for event in stream]
        final = dump(await stream.get_final_completion())
    return Observed([*events, final], final)


def responses_create(client: Any, voker: dict[str, Any]) -> Observed:
    result = client.responses.create(**RESPONSES_ARGS, **voker)
    assert isinstance(result, openai.types.responses.Response)
    return Observed(dump(result), dump(result))


async def aresponses_create(client: Any, voker: dict[str, Any]) -> Observed:
    result = await client.responses.create(**RESPONSES_ARGS, **voker)
    return Observed(dump(result), dump(result))


def responses_create_stream(client: Any, voker: dict[str, Any]) -> Observed:
    stream = client.responses.create(**RESPONSES_ARGS, **voker, stream=True)
    assert isinstance(stream, openai.Stream)
    events = list(stream)
    assert events[-1].type == "response.completed"
    return Observed(dump(events), dump(events[-1].response))


async def aresponses_create_stream(client: Any, voker: dict[str, Any]) -> Observed:
    stream = await client.responses.create(**RESPONSES_ARGS, **voker, stream=True)
    events = [event async for event in stream]
    return Observed(dump(events), dump(events[-1].response))


def responses_parse(client: Any, voker: dict[str, Any]) -> Observed:
    result = client.responses.parse(**RESPONSES_ARGS, **voker, text_format=Answer)
    assert isinstance(result.output_parsed, Answer)
    return Observed(dump(result), dump(result))


async def aresponses_parse(client: Any, voker: dict[str, Any]) -> Observed:
    result = await client.responses.parse(**RESPONSES_ARGS, **voker, text_format=Answer)
    assert isinstance(result.output_parsed, Answer)
    return Observed(dump(result), dump(result))


def responses_stream(client: Any, voker: dict[str, Any]) -> Observed:
    with client.responses.stream(**RESPONSES_ARGS, **voker) as stream:
        events = [dump(event) for event in stream]
        final = dump(stream.get_final_response())
    return Observed([*events, final], final)


async def aresponses_stream(client: Any, voker: dict[str, Any]) -> Observed:
    async with client.responses.stream(**RESPONSES_ARGS, **voker) as stream:
        events = [dump(event) async for event in stream]
        final = dump(await stream.get_final_response())
    return Observed([*events, final], final)


@dataclass(frozen=True)
class Surface:
    name: str
    api: str
    stream: bool
    run: Callable[[Any, dict[str, Any]], Observed]
    arun: Callable[[Any, dict[str, Any]], Awaitable[Observed]]
    view: Callable[[Any], Any]
    inputs: dict[str, Any]

    def __str__(self) -> str:
        return self.name


CHAT_API = "openai-chat-completions"
RESPONSES_API = "openai-responses"
SURFACES = [
    Surface("chat.create", CHAT_API, False, chat_create, achat_create, exact_view, CHAT_ARGS),
    Surface(
        "chat.create-stream",
        CHAT_API,
        True,
        chat_create_stream,
        achat_create_stream,
        chat_view,
        {**CHAT_ARGS, "stream": True},
    ),
    Surface("chat.parse", CHAT_API, False, chat_parse, achat_parse, exact_view, CHAT_ARGS),
    Surface("chat.stream", CHAT_API, True, chat_stream, achat_stream, chat_view, CHAT_ARGS),
    Surface(
        "responses.create",
        RESPONSES_API,
        False,
        responses_create,
        aresponses_create,
        exact_view,
        RESPONSES_ARGS,
    ),
    Surface(
        "responses.create-stream",
        RESPONSES_API,
        True,
        responses_create_stream,
        aresponses_create_stream,
        exact_view,
        {**RESPONSES_ARGS, "stream": True},
    ),
    Surface(
        "responses.parse",
        RESPONSES_API,
        False,
        responses_parse,
        aresponses_parse,
        exact_view,
        RESPONSES_ARGS,
    ),
    Surface(
        "responses.stream",
        RESPONSES_API,
        True,
        responses_stream,
        aresponses_stream,
        exact_view,
        RESPONSES_ARGS,
    ),
]


def check(
    surface: Surface,
    observed: Observed,
    expected: Observed,
    fake_llm: Any,
    voker_client: Any,
    voker_server: Any,
) -> None:
    # The caller sees what the unwrapped client sees.
    assert normalise(observed.result) == normalise(expected.result)

    event = one_event(voker_client, voker_server)
    check_associations(event)
    props = event["properties"]
    assert props.keys() >= EVENT_KEYS
    assert props["api"] == surface.api
    assert props["provider"] == "openai"
    assert props["model"] == "gpt-4.1-mini"
    assert props["stream"] is surface.stream
    assert props["error"] is None
    assert props["finish_reason"] == "stop"
    assert datetime.fromisoformat(props["started_at"].replace("Z", "+00:00"))
    assert props["latency_ms"] > 0

    inputs = props["inputs"]
    assert not [key for key in inputs if key.startswith("voker_")]
    for key, value in surface.inputs.items():
        assert inputs[key] == value, key
    assert "stream_options" not in inputs  # asked for on the caller's behalf, not their input

    assert surface.view(props["output"]) == surface.view(observed.final)
    check_usage(props, fake_llm.requests[-1].reply)

    if surface.stream:
        assert 0 < props["time_to_first_token_ms"] <= props["latency_ms"]
    else:
        assert "time_to_first_token_ms" not in props


@pytest.fixture(autouse=True)
def _usage_with_details(fake_llm: Any) -> None:
    # Cached and reasoning tokens on every reply, to see them normalised.
    fake_llm.set_default(usage=Usage(cached_tokens=2, reasoning_tokens=3))


@pytest.mark.parametrize("surface", SURFACES, ids=str)
def test_sync_surface(
    surface: Surface, fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with plain(fake_llm) as client:
        expected = surface.run(client, {})
    with wrapped(fake_llm, voker_client) as client:
        observed = surface.run(client, VOKER)
    check(surface, observed, expected, fake_llm, voker_client, voker_server)


@pytest.mark.parametrize("surface", SURFACES, ids=str)
async def test_async_surface(
    surface: Surface, fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    async with aplain(fake_llm) as client:
        expected = await surface.arun(client, {})
    async with awrapped(fake_llm, voker_client) as client:
        observed = await surface.arun(client, VOKER)
    check(surface, observed, expected, fake_llm, voker_client, voker_server)


def test_the_usage_chunk_requested_for_the_caller_is_hidden(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with wrapped(fake_llm, voker_client) as client:
        chunks = list(client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True))
    assert fake_llm.requests[-1].body["stream_options"] == {"include_usage": True}
    assert all(chunk.choices for chunk in chunks)  # no usage-only chunk reached the caller
    props = one_event(voker_client, voker_server)["properties"]
    assert props["usage"]["input_tokens"] == fake_llm.requests[-1].reply.input_tokens


def test_streamed_chunks_are_the_ones_the_caller_asked_for(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    """The usage we ask for on the caller's behalf leaves no trace in their chunks: no
    usage-only chunk and no ``usage: null`` field (taken out before the SDK parses them)."""
    with plain(fake_llm) as client:
        expected = chunk_fields(list(client.chat.completions.create(**CHAT_ARGS, stream=True)))
    with wrapped(fake_llm, voker_client) as client:
        observed = chunk_fields(
            list(client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True))
        )
    assert observed == expected
    assert all("usage" not in fields for fields in observed)
    props = one_event(voker_client, voker_server)["properties"]
    check_usage(props, fake_llm.requests[-1].reply)
    assert props["output"]["usage"]["prompt_tokens"] == fake_llm.requests[-1].reply.input_tokens


async def test_async_streamed_chunks_are_the_ones_the_caller_asked_for(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    async with aplain(fake_llm) as client:
        stream = await client.chat.completions.create(**CHAT_ARGS, stream=True)
        expected = chunk_fields([chunk async for chunk in stream])
    async with awrapped(fake_llm, voker_client) as client:
        stream = await client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True)
        observed = chunk_fields([chunk async for chunk in stream])
    assert observed == expected
    check_usage(one_event(voker_client, voker_server)["properties"], fake_llm.requests[-1].reply)


def test_messages_changed_after_the_call_are_recorded_as_sent(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    """The event is built on the delivery thread; what was sent is copied before returning."""
    messages = [dict(message) for message in CHAT_ARGS["messages"]]
    args = {**CHAT_ARGS, "messages": messages}
    with wrapped(fake_llm, voker_client) as client:
        completion = client.chat.completions.create(**args, **VOKER)
        messages.append({"role": "assistant", "content": completion.choices[0].message.content})
        messages[0]["content"] = "changed afterwards"
    props = one_event(voker_client, voker_server)["properties"]
    assert props["inputs"]["messages"] == CHAT_ARGS["messages"]
    assert props["output"]["choices"][0]["message"]["content"] == (
        completion.choices[0].message.content
    )


def test_a_caller_who_asks_for_stream_usage_gets_the_chunk(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    options = {"include_usage": True}
    with wrapped(fake_llm, voker_client) as client:
        chunks = list(
            client.chat.completions.create(
                **CHAT_ARGS, **VOKER, stream=True, stream_options=options
            )
        )
    assert not chunks[-1].choices and chunks[-1].usage is not None
    props = one_event(voker_client, voker_server)["properties"]
    assert props["inputs"]["stream_options"] == {"include_usage": True}
    assert props["usage"]["output_tokens"] == chunks[-1].usage.completion_tokens


def test_a_caller_who_declines_stream_usage_is_respected(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with wrapped(fake_llm, voker_client) as client:
        list(
            client.chat.completions.create(
                **CHAT_ARGS, **VOKER, stream=True, stream_options={"include_usage": False}
            )
        )
    assert fake_llm.requests[-1].body["stream_options"] == {"include_usage": False}
    props = one_event(voker_client, voker_server)["properties"]
    assert props["usage"] is None
    assert props["output"]["choices"][0]["message"]["content"] == "Echo: hello there world"


def test_tool_calls_are_assembled_from_a_stream(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    from voker_core.testing.fake_llm import Reply, ToolCall

    fake_llm.queue_reply(Reply(tool_calls=[ToolCall("get_weather", {"city": "Paris"})]))
    with wrapped(fake_llm, voker_client) as client:
        chunks = list(client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True))
    final = _chat_final(chunks)
    props = one_event(voker_client, voker_server)["properties"]
    assert props["finish_reason"] == "tool_calls"
    call = props["output"]["choices"][0]["message"]["tool_calls"][0]
    assert call["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert call["id"] == final["choices"][0]["message"]["tool_calls"][0]["id"]


def test_messages_of_the_event_are_the_callers(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with wrapped(fake_llm, voker_client) as client:
        client.chat.completions.create(**CHAT_ARGS, **VOKER)
    assert one_event(voker_client, voker_server)["properties"]["inputs"]["messages"] == MESSAGES
