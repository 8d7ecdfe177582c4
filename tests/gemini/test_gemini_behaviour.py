"""What a user relies on beyond the happy path: provider errors recorded and re-raised
unchanged, missing agent/session refused before any request, the context, capture_content,
JSON inputs from genai types, untouched arguments, a broken Voker never reaching the caller, and
a true drop-in client."""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2
import pytest
from google import genai
from google.genai import chats as genai_chats
from google.genai import errors, models, types

import voker_core
from tests.gemini.helpers import (
    MODEL,
    PROMPT,
    VOKER,
    client_options,
    llm_events,
    one_event,
    plain,
    wrapped,
)
from tests.stand_ins import BrokenVokerClient
from voker_core import VokerClient
from voker_core.ai.provider_gemini import Client
from voker_core.testing.fake_llm import Reply


def _sync_calls() -> dict[str, Callable[[Any, dict[str, Any]], Any]]:
    def chat_send(client: Any, voker: dict[str, Any]) -> Any:
        return client.chats.create(model=MODEL, **voker).send_message(PROMPT)

    def chat_stream(client: Any, voker: dict[str, Any]) -> Any:
        return list(client.chats.create(model=MODEL, **voker).send_message_stream(PROMPT))

    return {
        "generate": lambda c, v: c.models.generate_content(model=MODEL, contents=PROMPT, **v),
        "generate-stream": lambda c, v: list(
            c.models.generate_content_stream(model=MODEL, contents=PROMPT, **v)
        ),
        "chat": chat_send,
        "chat-stream": chat_stream,
    }


def _async_calls() -> dict[str, Callable[[Any, dict[str, Any]], Awaitable[Any]]]:
    async def generate(client: Any, voker: dict[str, Any]) -> Any:
        return await client.aio.models.generate_content(model=MODEL, contents=PROMPT, **voker)

    async def generate_stream(client: Any, voker: dict[str, Any]) -> Any:
        stream = await client.aio.models.generate_content_stream(
            model=MODEL, contents=PROMPT, **voker
        )
        return [chunk async for chunk in stream]

    async def chat_send(client: Any, voker: dict[str, Any]) -> Any:
        return await client.aio.chats.create(model=MODEL, **voker).send_message(PROMPT)

    async def chat_stream(client: Any, voker: dict[str, Any]) -> Any:
        chat = client.aio.chats.create(model=MODEL, **voker)
        return [chunk async for chunk in await chat.send_message_stream(PROMPT)]

    return {
        "generate": generate,
        "generate-stream": generate_stream,
        "chat": chat_send,
        "chat-stream": chat_stream,
    }


SYNC_CALLS = _sync_calls()
ASYNC_CALLS = _async_calls()

ERRORS = [
    pytest.param(Reply(error_status=500), errors.ServerError, 500, id="500"),
    pytest.param(Reply(error_status=429, retry_after=1), errors.ClientError, 429, id="429"),
    pytest.param(Reply(delay=1.0), httpx2.TimeoutException, None, id="timeout"),
]


def _no_ids(text: str) -> str:
    return re.sub(r"fake\d+", "fake", text)


def _check_error_event(props: dict[str, Any], caught: BaseException, status: int | None) -> None:
    assert props["error"] == {
        "type": type(caught).__name__,
        "message": str(caught),
        "status_code": status,
    }
    assert props["usage"] is None
    assert props["latency_ms"] > 0


@pytest.mark.parametrize("call", SYNC_CALLS, ids=str)
@pytest.mark.parametrize(("reply", "exc_type", "status"), ERRORS)
def test_provider_errors_are_recorded_and_reraised_unchanged(
    call: str,
    reply: Reply,
    exc_type: type[BaseException],
    status: int | None,
    fake_llm: Any,
    voker_client: Any,
    voker_server: Any,
) -> None:
    fake_llm.queue_reply(reply)
    with pytest.raises(exc_type) as unwrapped_error:
        SYNC_CALLS[call](plain(fake_llm, timeout_ms=250 if reply.delay else 10_000), {})
    fake_llm.queue_reply(reply)
    with pytest.raises(exc_type) as caught:
        SYNC_CALLS[call](
            wrapped(fake_llm, voker_client, timeout_ms=250 if reply.delay else 10_000), VOKER
        )
    assert type(caught.value) is type(unwrapped_error.value)
    assert _no_ids(str(caught.value)) == _no_ids(str(unwrapped_error.value))
    assert getattr(caught.value, "code", None) == status
    _check_error_event(one_event(voker_client, voker_server)["properties"], caught.value, status)


@pytest.mark.parametrize("call", ASYNC_CALLS, ids=str)
@pytest.mark.parametrize(("reply", "exc_type", "status"), ERRORS)
async def test_async_provider_errors_are_recorded_and_reraised_unchanged(
    call: str,
    reply: Reply,
    exc_type: type[BaseException],
    status: int | None,
    fake_llm: Any,
    voker_client: Any,
    voker_server: Any,
) -> None:
    fake_llm.queue_reply(reply)
    client = wrapped(fake_llm, voker_client, timeout_ms=250 if reply.delay else 10_000)
    with pytest.raises(exc_type) as caught:
        await ASYNC_CALLS[call](client, VOKER)
    _check_error_event(one_event(voker_client, voker_server)["properties"], caught.value, status)
    await client.aio.aclose()


@pytest.mark.parametrize("missing", ["voker_session", "voker_agent"])
@pytest.mark.parametrize("call", SYNC_CALLS, ids=str)
def test_a_missing_agent_or_session_raises_before_any_request(
    missing: str, call: str, fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    voker = {k: v for k, v in VOKER.items() if k != missing}
    with pytest.raises(TypeError, match=missing):
        SYNC_CALLS[call](wrapped(fake_llm, voker_client), voker)
    assert fake_llm.requests == []
    assert llm_events(voker_client, voker_server) == []


@pytest.mark.parametrize("missing", ["voker_session", "voker_agent"])
@pytest.mark.parametrize("call", ASYNC_CALLS, ids=str)
async def test_async_missing_agent_or_session_raises_before_any_request(
    missing: str, call: str, fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    voker = {k: v for k, v in VOKER.items() if k != missing}
    client = wrapped(fake_llm, voker_client)
    with pytest.raises(TypeError, match=missing):
        await ASYNC_CALLS[call](client, voker)
    assert fake_llm.requests == []
    assert llm_events(voker_client, voker_server) == []
    await client.aio.aclose()


@pytest.mark.parametrize("call", SYNC_CALLS, ids=str)
def test_the_context_supplies_agent_session_and_person(
    call: str, fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    client = wrapped(fake_llm, voker_client)
    with voker_core.context(
        session="ctx-session",
        agent="ctx-agent",
        agent_version="ctx-v2",
        person="ctx-person",
        properties={"tenant": "acme"},
    ):
        SYNC_CALLS[call](client, {})
    event = one_event(voker_client, voker_server)
    assert (event["session"], event["agent"], event["agent_version"], event["person"]) == (
        "ctx-session",
        "ctx-agent",
        "ctx-v2",
        "ctx-person",
    )
    assert event["properties"]["tenant"] == "acme"


@pytest.mark.parametrize("call", ASYNC_CALLS, ids=str)
async def test_async_context_and_explicit_arguments(
    call: str, fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    client = wrapped(fake_llm, voker_client)
    async with voker_core.context(session="ctx-session", agent="ctx-agent"):
        await ASYNC_CALLS[call](client, {"voker_session": "explicit", "voker_properties": {"k": 1}})
    event = one_event(voker_client, voker_server)
    assert (event["session"], event["agent"]) == ("explicit", "ctx-agent")  # explicit wins
    assert event["properties"]["k"] == 1
    await client.aio.aclose()


@pytest.mark.parametrize("call", SYNC_CALLS, ids=str)
def test_capture_content_off_keeps_metadata_only(
    call: str, fake_llm: Any, voker_server: Any
) -> None:
    with VokerClient(
        api_key="test-key", base_url=voker_server.base_url, capture_content=False
    ) as voker_client:
        SYNC_CALLS[call](wrapped(fake_llm, voker_client), VOKER)
        props = one_event(voker_client, voker_server)["properties"]
    assert "inputs" not in props and "output" not in props
    assert props["usage"]["output_tokens"] == fake_llm.requests[-1].reply.output_tokens
    assert props["latency_ms"] > 0
    assert props["model"] == MODEL
    assert props["finish_reason"] == "stop"


def test_genai_types_and_bytes_in_the_inputs_become_json(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    image = b"\x89PNG\r\n\x1a\n\x00binary"
    contents = [
        types.Content(
            role="user",
            parts=[
                types.Part(text="What is in this picture?"),
                types.Part.from_bytes(data=image, mime_type="image/png"),
            ],
        )
    ]
    config = types.GenerateContentConfig(
        temperature=0.5,
        max_output_tokens=64,
        safety_settings=[
            types.SafetySetting(
                category=types.HarmCategory.HARM_CATEGORY_HARASSMENT,
                threshold=types.HarmBlockThreshold.BLOCK_ONLY_HIGH,
            )
        ],
        http_options=types.HttpOptions(headers={"x-secret": "not for Voker"}),
    )
    client = wrapped(fake_llm, voker_client)  # held: a dropped genai Client closes itself
    client.models.generate_content(model=MODEL, contents=contents, config=config, **VOKER)
    inputs = one_event(voker_client, voker_server)["properties"]["inputs"]
    assert inputs["contents"] == [
        {
            "role": "user",
            "parts": [
                {"text": "What is in this picture?"},
                {
                    "inline_data": {
                        "data": base64.b64encode(image).decode(),
                        "mime_type": "image/png",
                    }
                },
            ],
        }
    ]
    assert inputs["config"] == {
        "temperature": 0.5,
        "max_output_tokens": 64,
        "safety_settings": [
            {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}
        ],
    }  # no nulls, and no http_options (transport settings, maybe credentials)


def test_dict_inputs_are_recorded_as_given(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    contents = [{"role": "user", "parts": [{"text": PROMPT}]}]
    config = {"temperature": 0.1, "http_options": {"headers": {"x-secret": "no"}}}
    client = wrapped(fake_llm, voker_client)
    client.models.generate_content(model=MODEL, contents=contents, config=config, **VOKER)
    inputs = one_event(voker_client, voker_server)["properties"]["inputs"]
    assert inputs == {"model": MODEL, "contents": contents, "config": {"temperature": 0.1}}


def test_the_callers_arguments_are_not_mutated(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    contents: list[Any] = [{"role": "user", "parts": [{"text": PROMPT}]}]
    config = types.GenerateContentConfig(temperature=0.3)
    properties = {"a": 1}
    before = (copy.deepcopy(contents), config.model_dump(), dict(properties))
    client = wrapped(fake_llm, voker_client)
    reply = client.models.generate_content(
        model=MODEL, contents=contents, config=config, **VOKER, voker_properties=properties
    )
    assert (contents, config.model_dump(), properties) == before
    contents.append(reply.candidates[0].content)  # the usual follow-up, after the call
    list(
        client.models.generate_content_stream(
            model=MODEL, contents=contents, config=config, **VOKER
        )
    )
    first, second = llm_events(voker_client, voker_server)
    # The first event kept the contents as they were when the call was made.
    assert len(first["properties"]["inputs"]["contents"]) == 1
    assert len(second["properties"]["inputs"]["contents"]) == 2


def _generate(client: Any, contents: Any, voker: dict[str, Any]) -> str:
    return client.models.generate_content(model=MODEL, contents=contents, **voker).text  # type: ignore[no-any-return]


def _generate_stream(client: Any, contents: Any, voker: dict[str, Any]) -> str:
    chunks = client.models.generate_content_stream(model=MODEL, contents=contents, **voker)
    return "".join(chunk.text or "" for chunk in chunks)


async def _agenerate(client: Any, contents: Any, voker: dict[str, Any]) -> str:
    response = await client.aio.models.generate_content(model=MODEL, contents=contents, **voker)
    return response.text  # type: ignore[no-any-return]


async def _agenerate_stream(client: Any, contents: Any, voker: dict[str, Any]) -> str:
    chunks = await client.aio.models.generate_content_stream(
        model=MODEL, contents=contents, **voker
    )
    return "".join([chunk.text or "" async for chunk in chunks])


@pytest.mark.parametrize(
    "generate",
    [_generate, _generate_stream, _agenerate, _agenerate_stream],
    ids=lambda f: f.__name__,
)
async def test_a_one_shot_iterator_of_contents_is_sent_and_recorded_as_a_list(
    fake_llm: Any, voker_client: Any, voker_server: Any, generate: Callable[..., Any]
) -> None:
    history = ["hello there", {"text": "world"}]

    async def run(client: Any, voker: dict[str, Any]) -> str:
        result = generate(client, (item for item in history), voker)
        return await result if isinstance(result, Awaitable) else result  # type: ignore[no-any-return]

    expected = await run(plain(fake_llm), {})
    sent_plain = fake_llm.requests[-1].body
    assert (
        await run(wrapped(fake_llm, voker_client), VOKER) == expected == "Echo: hello there world"
    )
    assert fake_llm.requests[-1].body == sent_plain  # the list sends what the generator did
    assert one_event(voker_client, voker_server)["properties"]["inputs"]["contents"] == history


def test_a_chat_message_iterator_is_refused_as_the_sdk_refuses_it(
    fake_llm: Any, voker_client: Any
) -> None:
    # google-genai's chats take no iterator as a message: the caller gets its ValueError, with
    # the iterator left unread.
    with pytest.raises(ValueError, match="valid part type") as plain_error:
        plain(fake_llm).chats.create(model=MODEL).send_message(p for p in ["hi"])  # type: ignore[arg-type]
    message = iter(["hi"])
    chat = wrapped(fake_llm, voker_client).chats.create(model=MODEL, **VOKER)
    with pytest.raises(ValueError) as error:
        chat.send_message(message)  # type: ignore[arg-type]
    assert str(error.value).split(", got")[0] == str(plain_error.value).split(", got")[0]
    assert list(message) == ["hi"]


def test_a_failing_before_send_never_reaches_the_caller(fake_llm: Any, voker_server: Any) -> None:
    def before_send(event: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("bug in the user's hook")

    with VokerClient(
        api_key="test-key", base_url=voker_server.base_url, before_send=before_send
    ) as voker_client:
        client = wrapped(fake_llm, voker_client)
        response = client.models.generate_content(model=MODEL, contents=PROMPT, **VOKER)
        chat = client.chats.create(model=MODEL, **VOKER)
        chunks = list(chat.send_message_stream(PROMPT))
        assert voker_client.flush(10)
    assert response.text == "".join(c.text for c in chunks) == "Echo: hello there world"
    assert voker_server.events(event_name="llm") == []


async def test_a_broken_voker_client_never_reaches_the_caller(fake_llm: Any) -> None:
    broken: Any = BrokenVokerClient()
    client = wrapped(fake_llm, broken)
    expected = "Echo: hello there world"
    assert client.models.generate_content(model=MODEL, contents=PROMPT, **VOKER).text == expected
    chat = client.aio.chats.create(model=MODEL, **VOKER)
    chunks = [c async for c in await chat.send_message_stream(PROMPT)]
    assert "".join(c.text for c in chunks) == expected
    await client.aio.aclose()


def test_the_wrapped_client_is_the_providers(fake_llm: Any, voker_client: Any) -> None:
    client = wrapped(fake_llm, voker_client)
    assert isinstance(client, genai.Client)
    assert isinstance(client.models, models.Models)
    assert isinstance(client.aio.models, models.AsyncModels)
    assert isinstance(client.chats.create(model=MODEL), genai_chats.Chat)
    assert isinstance(client.aio.chats.create(model=MODEL), genai_chats.AsyncChat)
    assert client.vertexai is False
    assert wrapped(fake_llm, voker_client, vertex=True).vertexai is True
    # Unwrapped surfaces are the provider's own and keep working.
    assert type(client.files).__module__ == "google.genai.files"
    assert client.models.count_tokens  # an unrecorded method of the same resource


def test_an_unrecorded_method_needs_no_voker_keywords(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    client = wrapped(fake_llm, voker_client)
    # The SDK's embed/count calls go to their own endpoints, untouched: the fake server has none,
    # so the SDK's own error comes back, not a TypeError about voker_session.
    with pytest.raises(errors.ClientError):
        client.models.count_tokens(model=MODEL, contents=PROMPT)
    assert llm_events(voker_client, voker_server) == []


def test_the_default_client_is_used_without_voker_client(
    fake_llm: Any, default_voker_client: Any, voker_server: Any
) -> None:
    client = Client(**client_options(fake_llm))
    client.models.generate_content(model=MODEL, contents=PROMPT, **VOKER)
    one_event(default_voker_client, voker_server)


def test_a_blocked_prompt_finishes_with_content_filter(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    """Gemini answers a refused prompt with a 200 and no candidates at all, only its feedback."""
    fake_llm.queue_reply(Reply(blocked_prompt=True), times=2)
    client = wrapped(fake_llm, voker_client)
    response = client.models.generate_content(model=MODEL, contents=PROMPT, **VOKER)
    chunks = list(client.models.generate_content_stream(model=MODEL, contents=PROMPT, **VOKER))
    assert response.candidates is None
    assert response.prompt_feedback.block_reason == types.BlockedReason.SAFETY  # type: ignore[union-attr]
    assert len(chunks) == 1
    events = llm_events(voker_client, voker_server)
    assert [e["properties"]["stream"] for e in events] == [False, True]
    for event in events:
        assert event["properties"]["finish_reason"] == "content_filter"
        assert event["properties"]["error"] is None


async def test_arguments_the_sdk_refuses_before_any_request_record_nothing(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    """A misspelt config key (pydantic's ValidationError, a ValueError) or a message the SDK
    cannot take raises the SDK's own error before any request: no call, so no event - plain,
    streamed (refused on its first step), async and in a chat. A provider error after a request
    is still recorded."""
    bad = {"temprature": 0.2}
    client = wrapped(fake_llm, voker_client)
    refused: list[Callable[[], Any]] = [
        lambda: client.models.generate_content(model=MODEL, contents=PROMPT, config=bad, **VOKER),
        lambda: list(
            client.models.generate_content_stream(model=MODEL, contents=PROMPT, config=bad, **VOKER)
        ),
        lambda: client.chats.create(model=MODEL, **VOKER).send_message(123),  # type: ignore[arg-type]
    ]
    for call in refused:
        with pytest.raises(ValueError):
            call()
    with pytest.raises(ValueError):
        await client.aio.models.generate_content(model=MODEL, contents=PROMPT, config=bad, **VOKER)
    with pytest.raises(ValueError):
        async for _ in await client.aio.models.generate_content_stream(
            model=MODEL, contents=PROMPT, config=bad, **VOKER
        ):
            pass
    assert fake_llm.requests == []
    fake_llm.queue_reply(Reply(error_status=503))
    with pytest.raises(errors.ServerError):
        client.models.generate_content(model=MODEL, contents=PROMPT, **VOKER)
    [event] = llm_events(voker_client, voker_server)
    assert event["properties"]["error"]["status_code"] == 503
