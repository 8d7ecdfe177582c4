"""Every wrapped Gemini surface, sync and async (``client.aio``), on the Gemini Developer API and
on a Vertex AI configuration: one complete event per call, and the caller sees exactly what the
unwrapped client shows on the same fake server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from google.genai import types

from tests.gemini.helpers import (
    EVENT_KEYS,
    MODEL,
    PROMPT,
    VOKER,
    check_associations,
    check_usage,
    dump,
    normalise,
    one_event,
    plain,
    text_of,
    wrapped,
)
from voker_core.testing.fake_llm import Usage

CONFIG = types.GenerateContentConfig(temperature=0.2, system_instruction="You are terse.")
CONFIG_JSON = {"temperature": 0.2, "system_instruction": "You are terse."}


@dataclass
class Observed:
    result: Any  # everything the caller saw, as JSON
    final: Any  # the final response, as JSON (a stream's: assembled from its chunks)


def _assembled(chunks: list[Any]) -> dict[str, Any]:
    """What a stream's chunks amount to, from the caller's side."""
    last = chunks[-1]
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "".join(c.text for c in chunks)}]},
                "finish_reason": last.candidates[0].finish_reason.value,
                "index": 0,
            }
        ],
        "usage_metadata": dump(last.usage_metadata),
        "model_version": last.model_version,
    }


def view(response: dict[str, Any]) -> dict[str, Any]:
    """The parts of a final response that a recorded output must agree on."""
    candidate = response["candidates"][0]
    return {
        "text": text_of(response),
        "role": candidate["content"]["role"],
        "finish_reason": candidate.get("finish_reason"),
        "usage_metadata": response.get("usage_metadata"),
        "model_version": response.get("model_version"),
    }


# -- the surfaces ---------------------------------------------------------------------------------


def generate(client: Any, voker: dict[str, Any]) -> Observed:
    response = client.models.generate_content(model=MODEL, contents=PROMPT, config=CONFIG, **voker)
    assert isinstance(response, types.GenerateContentResponse)
    return Observed(dump(response), dump(response))


async def agenerate(client: Any, voker: dict[str, Any]) -> Observed:
    response = await client.aio.models.generate_content(
        model=MODEL, contents=PROMPT, config=CONFIG, **voker
    )
    assert isinstance(response, types.GenerateContentResponse)
    return Observed(dump(response), dump(response))


def generate_stream(client: Any, voker: dict[str, Any]) -> Observed:
    stream = client.models.generate_content_stream(
        model=MODEL, contents=PROMPT, config=CONFIG, **voker
    )
    # The SDK's generator; the wrapper's iterator over it (so that a loop's break records).
    assert isinstance(stream, Iterator) and hasattr(stream, "close")
    chunks = list(stream)
    return Observed(dump(chunks), _assembled(chunks))


async def agenerate_stream(client: Any, voker: dict[str, Any]) -> Observed:
    stream = await client.aio.models.generate_content_stream(
        model=MODEL, contents=PROMPT, config=CONFIG, **voker
    )
    assert isinstance(stream, AsyncIterator) and hasattr(stream, "aclose")
    chunks = [chunk async for chunk in stream]
    return Observed(dump(chunks), _assembled(chunks))


def chat_send(client: Any, voker: dict[str, Any]) -> Observed:
    chat = client.chats.create(model=MODEL, config=CONFIG, **voker)
    response = chat.send_message(PROMPT)
    return Observed([dump(response), dump(chat.get_history())], dump(response))


async def achat_send(client: Any, voker: dict[str, Any]) -> Observed:
    chat = client.aio.chats.create(model=MODEL, config=CONFIG, **voker)
    response = await chat.send_message(PROMPT)
    return Observed([dump(response), dump(chat.get_history())], dump(response))


def chat_stream(client: Any, voker: dict[str, Any]) -> Observed:
    chat = client.chats.create(model=MODEL, config=CONFIG, **voker)
    chunks = list(chat.send_message_stream(PROMPT))
    return Observed([dump(chunks), dump(chat.get_history())], _assembled(chunks))


async def achat_stream(client: Any, voker: dict[str, Any]) -> Observed:
    chat = client.aio.chats.create(model=MODEL, config=CONFIG, **voker)
    chunks = [chunk async for chunk in await chat.send_message_stream(PROMPT)]
    return Observed([dump(chunks), dump(chat.get_history())], _assembled(chunks))


@dataclass(frozen=True)
class Surface:
    name: str
    stream: bool
    chat: bool
    run: Callable[[Any, dict[str, Any]], Observed]
    arun: Callable[[Any, dict[str, Any]], Awaitable[Observed]]

    def __str__(self) -> str:
        return self.name


SURFACES = [
    Surface("models.generate_content", False, False, generate, agenerate),
    Surface("models.generate_content_stream", True, False, generate_stream, agenerate_stream),
    Surface("chat.send_message", False, True, chat_send, achat_send),
    Surface("chat.send_message_stream", True, True, chat_stream, achat_stream),
]
BACKENDS = [pytest.param(False, id="gemini-api"), pytest.param(True, id="vertex")]


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
    assert props["api"] == "gemini-models"
    assert props["provider"] == "gemini"
    assert props["model"] == MODEL
    assert props["stream"] is surface.stream
    assert props["error"] is None
    assert props["finish_reason"] == "stop"
    assert datetime.fromisoformat(props["started_at"].replace("Z", "+00:00"))
    assert props["latency_ms"] > 0

    inputs = props["inputs"]
    assert not [key for key in inputs if key.startswith("voker_")]
    assert inputs["model"] == MODEL
    assert inputs["config"] == CONFIG_JSON  # JSON without nulls, no http_options
    if surface.chat:
        assert inputs["contents"] == [{"role": "user", "parts": [{"text": PROMPT}]}]
    else:
        assert inputs["contents"] == PROMPT

    output = props["output"]
    assert "sdk_http_response" not in output
    assert view(output) == view(observed.final)
    if not surface.stream:
        assert normalise(output) == normalise(observed.final)
    check_usage(props, fake_llm.requests[-1].reply)

    if surface.stream:
        assert 0 < props["time_to_first_token_ms"] <= props["latency_ms"]
    else:
        assert "time_to_first_token_ms" not in props


@pytest.fixture(autouse=True)
def _usage_with_details(fake_llm: Any) -> None:
    # Cached and thinking tokens on every reply, to see them normalised.
    fake_llm.set_default(usage=Usage(cached_tokens=2, reasoning_tokens=3))


@pytest.mark.parametrize("vertex", BACKENDS)
@pytest.mark.parametrize("surface", SURFACES, ids=str)
def test_sync_surface(
    surface: Surface, vertex: bool, fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    expected = surface.run(plain(fake_llm, vertex=vertex), {})
    client = wrapped(fake_llm, voker_client, vertex=vertex)
    observed = surface.run(client, VOKER)
    assert fake_llm.requests[-1].path.startswith(
        "/v1beta1/projects/my-project/locations/us-central1/" if vertex else "/v1/models/"
    )
    check(surface, observed, expected, fake_llm, voker_client, voker_server)


@pytest.mark.parametrize("vertex", BACKENDS)
@pytest.mark.parametrize("surface", SURFACES, ids=str)
async def test_async_surface(
    surface: Surface, vertex: bool, fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    plain_client = plain(fake_llm, vertex=vertex)
    expected = await surface.arun(plain_client, {})
    client = wrapped(fake_llm, voker_client, vertex=vertex)
    observed = await surface.arun(client, VOKER)
    check(surface, observed, expected, fake_llm, voker_client, voker_server)
    await client.aio.aclose()
    await plain_client.aio.aclose()
