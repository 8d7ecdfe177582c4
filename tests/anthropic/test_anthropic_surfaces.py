"""Every wrapped Anthropic surface, sync and async, streaming and not: one complete event per
call, and the caller sees exactly what the unwrapped client shows on the same fake server."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anthropic
import pytest
from anthropic.lib.streaming import MessageStream
from anthropic.lib.streaming._beta_messages import accumulate_event as beta_accumulate
from anthropic.lib.streaming._messages import accumulate_event
from pydantic import BaseModel

from tests.anthropic.helpers import (
    ARGS,
    EVENT_KEYS,
    MODEL,
    VOKER,
    aplain,
    awrapped,
    check_associations,
    check_usage,
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
    final: Any  # the final message, as JSON


def _final(events: list[Any], *, beta: bool = False) -> Any:
    """The message the SDK's own accumulator makes of the caller's raw events."""
    accumulate = beta_accumulate if beta else accumulate_event
    accepts = inspect.signature(accumulate).parameters  # older SDKs take fewer keywords
    extra = {k: v for k, v in {"json_bufs": {}, "request_headers": None}.items() if k in accepts}
    snapshot: Any = None
    for event in events:
        snapshot = accumulate(event=event, current_snapshot=snapshot, **extra)
    return dump(snapshot)


def view(message: Any) -> Any:
    """A message minus ``parsed_output``, which only the SDK's parse helpers fill in."""
    if isinstance(message, dict):
        return {k: view(v) for k, v in message.items() if k != "parsed_output"}
    if isinstance(message, list):
        return [view(v) for v in message]
    return message


# -- the surfaces ---------------------------------------------------------------------------------


def create(client: Any, voker: dict[str, Any]) -> Observed:
    result = client.messages.create(**ARGS, **voker)
    assert isinstance(result, anthropic.types.Message)
    return Observed(dump(result), dump(result))


async def acreate(client: Any, voker: dict[str, Any]) -> Observed:
    result = await client.messages.create(**ARGS, **voker)
    assert isinstance(result, anthropic.types.Message)
    return Observed(dump(result), dump(result))


def create_stream(client: Any, voker: dict[str, Any]) -> Observed:
    stream = client.messages.create(**ARGS, **voker, stream=True)
    assert isinstance(stream, anthropic.Stream)
    with stream:
        events = list(stream)
    return Observed(dump(events), _final(events))


async def acreate_stream(client: Any, voker: dict[str, Any]) -> Observed:
    stream = await client.messages.create(**ARGS, **voker, stream=True)
    assert isinstance(stream, anthropic.AsyncStream)
    async with stream:
        events = [event async for event in stream]
    return Observed(dump(events), _final(events))


def stream_helper(client: Any, voker: dict[str, Any]) -> Observed:
    with client.messages.stream(**ARGS, **voker) as stream:
        assert isinstance(stream, MessageStream)
        events = [dump(event) for event in stream]
        final = dump(stream.get_final_message())
        text = stream.get_final_text()
    return Observed([*events, final, text], final)


async def astream_helper(client: Any, voker: dict[str, Any]) -> Observed:
    async with client.messages.stream(**ARGS, **voker) as stream:
        events = [dump(event) async for event in stream]
        final = dump(await stream.get_final_message())
        text = await stream.get_final_text()
    return Observed([*events, final, text], final)


def text_stream(client: Any, voker: dict[str, Any]) -> Observed:
    with client.messages.stream(**ARGS, **voker) as stream:
        texts = list(stream.text_stream)
        final = dump(stream.get_final_message())
    return Observed([texts, final], final)


async def atext_stream(client: Any, voker: dict[str, Any]) -> Observed:
    async with client.messages.stream(**ARGS, **voker) as stream:
        texts = [text async for text in stream.text_stream]
        await stream.until_done()
        final = dump(await stream.get_final_message())
    return Observed([texts, final], final)


def parse(client: Any, voker: dict[str, Any]) -> Observed:
    result = client.messages.parse(**ARGS, **voker, output_format=Answer)
    assert isinstance(result.parsed_output, Answer)
    return Observed(dump(result), dump(result))


async def aparse(client: Any, voker: dict[str, Any]) -> Observed:
    result = await client.messages.parse(**ARGS, **voker, output_format=Answer)
    assert isinstance(result.parsed_output, Answer)
    return Observed(dump(result), dump(result))


def beta_create(client: Any, voker: dict[str, Any]) -> Observed:
    result = client.beta.messages.create(**ARGS, **voker)
    assert isinstance(result, anthropic.types.beta.BetaMessage)
    return Observed(dump(result), dump(result))


async def abeta_create(client: Any, voker: dict[str, Any]) -> Observed:
    result = await client.beta.messages.create(**ARGS, **voker)
    return Observed(dump(result), dump(result))


def beta_create_stream(client: Any, voker: dict[str, Any]) -> Observed:
    with client.beta.messages.create(**ARGS, **voker, stream=True) as stream:
        events = list(stream)
    return Observed(dump(events), _final(events, beta=True))


async def abeta_create_stream(client: Any, voker: dict[str, Any]) -> Observed:
    stream = await client.beta.messages.create(**ARGS, **voker, stream=True)
    events = [event async for event in stream]
    return Observed(dump(events), _final(events, beta=True))


def beta_stream(client: Any, voker: dict[str, Any]) -> Observed:
    with client.beta.messages.stream(**ARGS, **voker) as stream:
        events = [dump(event) for event in stream]
        final = dump(stream.get_final_message())
    return Observed([*events, final], final)


async def abeta_stream(client: Any, voker: dict[str, Any]) -> Observed:
    async with client.beta.messages.stream(**ARGS, **voker) as stream:
        events = [dump(event) async for event in stream]
        final = dump(await stream.get_final_message())
    return Observed([*events, final], final)


@dataclass(frozen=True)
class Surface:
    name: str
    api: str
    stream: bool
    run: Callable[[Any, dict[str, Any]], Observed]
    arun: Callable[[Any, dict[str, Any]], Awaitable[Observed]]
    inputs: dict[str, Any]

    def __str__(self) -> str:
        return self.name


API = "anthropic-messages"
BETA_API = "anthropic-beta-messages"
STREAMING = {**ARGS, "stream": True}
SURFACES = [
    Surface("messages.create", API, False, create, acreate, ARGS),
    Surface("messages.create-stream", API, True, create_stream, acreate_stream, STREAMING),
    Surface("messages.stream", API, True, stream_helper, astream_helper, ARGS),
    Surface("messages.stream-text", API, True, text_stream, atext_stream, ARGS),
    Surface("messages.parse", API, False, parse, aparse, ARGS),
    Surface("beta.messages.create", BETA_API, False, beta_create, abeta_create, ARGS),
    Surface(
        "beta.messages.create-stream",
        BETA_API,
        True,
        beta_create_stream,
        abeta_create_stream,
        STREAMING,
    ),
    Surface("beta.messages.stream", BETA_API, True, beta_stream, abeta_stream, ARGS),
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
    assert props["provider"] == "anthropic"
    assert props["model"] == MODEL
    assert props["stream"] is surface.stream
    assert props["error"] is None
    assert props["finish_reason"] == "stop"
    assert datetime.fromisoformat(props["started_at"].replace("Z", "+00:00"))
    assert props["latency_ms"] > 0

    inputs = props["inputs"]
    assert not [key for key in inputs if key.startswith("voker_")]
    for key, value in surface.inputs.items():
        assert inputs[key] == value, key

    assert view(props["output"]) == view(observed.final)
    check_usage(props, fake_llm.requests[-1].reply)

    if surface.stream:
        assert 0 < props["time_to_first_token_ms"] <= props["latency_ms"]
    else:
        assert "time_to_first_token_ms" not in props


@pytest.fixture(autouse=True)
def _usage_with_details(fake_llm: Any) -> None:
    # Cache reads, cache writes and thinking tokens on every reply, to see them normalised.
    fake_llm.set_default(usage=Usage(cached_tokens=4, cache_creation_tokens=2, reasoning_tokens=3))


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


def test_the_beta_flag_reaches_the_server(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with wrapped(fake_llm, voker_client) as client:
        client.beta.messages.create(**ARGS, **VOKER, betas=["context-1m-2025-08-07"])
    request = fake_llm.last_request
    assert request.header("anthropic-beta") == "context-1m-2025-08-07"
    props = one_event(voker_client, voker_server)["properties"]
    assert props["inputs"]["betas"] == ["context-1m-2025-08-07"]
