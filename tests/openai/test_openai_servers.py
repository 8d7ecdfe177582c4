"""Servers other than OpenAI's own: Azure API versions and OpenAI-compatible servers that refuse
the ``stream_options`` the wrapper adds for usage, and OpenAI models hosted on other clouds
(openai 3.x's ``provider=``), which events name."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.openai.helpers import (
    CHAT_ARGS,
    RESPONSES_ARGS,
    VOKER,
    aplain,
    awrapped,
    azure_options,
    chat_text,
    chunk_fields,
    dump,
    llm_events,
    normalise,
    one_event,
    plain,
    wrapped,
)
from voker_core.ai import provider_openai
from voker_core.ai.provider_openai import _azure_accepts_stream_options
from voker_core.testing.fake_llm import RecordedRequest, Reply

# Azure's answer to stream_options before API version 2024-09-01-preview.
AZURE_REFUSAL = "Unrecognized request argument supplied: stream_options"
# An older vLLM's (pydantic's) answer to a field it does not know.
VLLM_REFUSAL = (
    "[{'type': 'extra_forbidden', 'loc': ('body', 'stream_options'), "
    "'msg': 'Extra inputs are not permitted'}]"
)
OLD_AZURE_VERSION = "2024-06-01"


def _refusing_stream_options(answer: Reply | None = None) -> Any:
    """A reply function: an OpenAI-compatible server that refuses ``stream_options`` with a 400,
    and answers ``answer`` (default: the echo) to a request without it."""

    def reply(request: RecordedRequest) -> Reply:
        if "stream_options" in (request.body or {}):
            return Reply(error_status=400, error_message=VLLM_REFUSAL)
        return answer or Reply()

    return reply


def _sent(requests: list[RecordedRequest]) -> list[tuple[bool, int | None]]:
    """Per request: whether it asked for ``stream_options``, and the status it got."""
    return [("stream_options" in request.body, request.status) for request in requests]


def _check_recorded_without_usage(props: dict[str, Any], text: str) -> None:
    assert props["error"] is None
    assert props["usage"] is None  # a server that refuses include_usage reports none
    assert props["output"]["choices"][0]["message"]["content"] == text
    assert props["finish_reason"] == "stop"
    assert props["time_to_first_token_ms"] is not None


# -- a server refusing stream_options -------------------------------------------------------------


def test_a_server_refusing_stream_options_is_asked_again_as_the_caller_asked(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.set_default(_refusing_stream_options())
    with plain(fake_llm) as client:
        expected = chunk_fields(list(client.chat.completions.create(**CHAT_ARGS, stream=True)))
    plain_requests = len(fake_llm.requests)
    with wrapped(fake_llm, voker_client) as client:
        per_call = client.with_options(timeout=30)  # made first: learns for its parent too
        observed = chunk_fields(
            list(per_call.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True))
        )
        assert observed == expected
        # Sent once with our stream_options (refused), then as the caller wrote it.
        assert _sent(fake_llm.requests[plain_requests:]) == [(True, 400), (False, 200)]
        # The client, and its copies, now ask no more: one request per call.
        for derived in (client, client.copy(), per_call):
            text = chat_text(
                list(derived.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True))
            )
            assert _sent(fake_llm.requests[-1:]) == [(False, 200)]
    assert len(fake_llm.requests) == plain_requests + 5
    events = llm_events(voker_client, voker_server)
    assert len(events) == 4  # the refused request is no call of the caller's: not recorded
    for event in events:
        assert event["properties"]["provider"] == "openai"
        _check_recorded_without_usage(event["properties"], text)
        assert "stream_options" not in event["properties"]["inputs"]


async def test_async_stream_manager_on_a_server_refusing_stream_options(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.set_default(_refusing_stream_options())
    async with aplain(fake_llm) as client:
        async with client.chat.completions.stream(**CHAT_ARGS) as stream:
            expected = [event.type async for event in stream]
            expected_final = normalise(dump(await stream.get_final_completion()))
    async with awrapped(fake_llm, voker_client) as client:
        async with client.chat.completions.stream(**CHAT_ARGS, **VOKER) as stream:
            observed = [event.type async for event in stream]
            final = await stream.get_final_completion()
    assert observed == expected
    assert normalise(dump(final)) == expected_final
    assert _sent(fake_llm.requests[1:]) == [(True, 400), (False, 200)]
    props = one_event(voker_client, voker_server)["properties"]
    _check_recorded_without_usage(props, final.choices[0].message.content or "")


async def test_async_create_on_a_server_refusing_stream_options(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.set_default(_refusing_stream_options())
    async with aplain(fake_llm) as client:
        stream = await client.chat.completions.create(**CHAT_ARGS, stream=True)
        chunks = [chunk async for chunk in stream]
    async with awrapped(fake_llm, voker_client) as client:
        for _ in range(2):
            stream = await client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True)
            assert chunk_fields([chunk async for chunk in stream]) == chunk_fields(chunks)
    assert _sent(fake_llm.requests[1:]) == [(True, 400), (False, 200), (False, 200)]
    events = llm_events(voker_client, voker_server)
    assert len(events) == 2
    for event in events:
        _check_recorded_without_usage(event["properties"], chat_text(chunks))


def test_the_callers_own_stream_options_are_sent_again_without_ours(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    """A caller's ``stream_options`` without ``include_usage`` gets ours added; refused, the
    request is made as the caller wrote it - and refused again, as the plain SDK's would be."""
    fake_llm.set_default(_refusing_stream_options())
    options = {"include_obfuscation": False}
    with plain(fake_llm) as client, pytest.raises(openai.BadRequestError) as plain_error:
        client.chat.completions.create(**CHAT_ARGS, stream=True, stream_options=options)
    with wrapped(fake_llm, voker_client) as client, pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True, stream_options=options)
    assert raised.value.message == plain_error.value.message
    sent = [request.body["stream_options"] for request in fake_llm.requests]
    assert sent == [options, {**options, "include_usage": True}, options]
    error = one_event(voker_client, voker_server)["properties"]["error"]
    assert error["status_code"] == 400


def test_another_bad_request_is_not_sent_again(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(error_status=400, error_message="Invalid value for 'temperature'.")
    with wrapped(fake_llm, voker_client) as client, pytest.raises(openai.BadRequestError):
        client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True)
    assert _sent(fake_llm.requests) == [(True, 400)]
    error = one_event(voker_client, voker_server)["properties"]["error"]
    assert error["type"] == "BadRequestError" and error["status_code"] == 400
    with wrapped(fake_llm, voker_client) as client:  # and the client keeps asking for usage
        list(client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True))
    assert _sent(fake_llm.requests[1:]) == [(True, 200)]


def test_the_caller_gets_the_second_requests_error_as_the_plain_sdk_raises_it(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.set_default(_refusing_stream_options(Reply(error_status=500)))
    with plain(fake_llm) as client, pytest.raises(openai.InternalServerError) as plain_error:
        client.chat.completions.create(**CHAT_ARGS, stream=True)
    with wrapped(fake_llm, voker_client) as client:
        with pytest.raises(openai.InternalServerError) as raised:
            client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True)
    assert raised.value.message == plain_error.value.message
    assert not isinstance(raised.value.__context__, openai.BadRequestError)  # nothing of ours
    assert _sent(fake_llm.requests) == [(False, 500), (True, 400), (False, 500)]
    error = one_event(voker_client, voker_server)["properties"]["error"]
    assert error["type"] == "InternalServerError" and error["status_code"] == 500


# -- Azure API versions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_version", "accepts"),
    [
        ("2023-05-15", False),
        ("2024-06-01", False),
        ("2024-08-01-preview", False),
        ("2024-09-01-preview", True),
        ("2024-10-21", True),
        ("2025-04-01-preview", True),
        ("preview", True),
        ("latest", True),
    ],
)
def test_azure_api_versions_accepting_stream_options(api_version: str, accepts: bool) -> None:
    assert _azure_accepts_stream_options(api_version) is accepts


def test_an_old_azure_api_version_is_not_asked_for_stream_usage(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    options = azure_options(fake_llm, api_version=OLD_AZURE_VERSION)
    with openai.AzureOpenAI(**options) as client:
        expected = chunk_fields(list(client.chat.completions.create(**CHAT_ARGS, stream=True)))
        with client.chat.completions.stream(**CHAT_ARGS) as stream:
            expected_text = stream.get_final_completion().choices[0].message.content
        # What the wrapper used to add, refused by these versions (the fake server knows):
        with pytest.raises(openai.BadRequestError, match=AZURE_REFUSAL):
            client.chat.completions.create(
                **CHAT_ARGS, stream=True, stream_options={"include_usage": True}
            )
    plain_requests = len(fake_llm.requests)
    with provider_openai.AzureOpenAI(voker_client=voker_client, **options) as client:
        observed = chunk_fields(
            list(client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True))
        )
        with client.chat.completions.stream(**CHAT_ARGS, **VOKER) as stream:
            text = stream.get_final_completion().choices[0].message.content
    assert observed == expected and text == expected_text
    assert _sent(fake_llm.requests[plain_requests:]) == [(False, 200), (False, 200)]
    events = llm_events(voker_client, voker_server)
    assert len(events) == 2
    for event in events:
        assert event["properties"]["provider"] == "azure-openai"
        _check_recorded_without_usage(event["properties"], text or "")


async def test_async_old_azure_api_version_and_a_newer_copy(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    options = azure_options(fake_llm, api_version=OLD_AZURE_VERSION)
    async with openai.AsyncAzureOpenAI(**options) as client:
        stream = await client.chat.completions.create(**CHAT_ARGS, stream=True)
        expected = chunk_fields([chunk async for chunk in stream])
    async with provider_openai.AsyncAzureOpenAI(voker_client=voker_client, **options) as client:
        stream = await client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True)
        assert chunk_fields([chunk async for chunk in stream]) == expected
        # A copy on a version that takes stream_options is asked for usage again.
        newer = client.with_options(api_version="2024-10-21")
        stream = await newer.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True)
        assert chunk_fields([chunk async for chunk in stream]) == expected
    assert _sent(fake_llm.requests[1:]) == [(False, 200), (True, 200)]
    old, new = llm_events(voker_client, voker_server)
    _check_recorded_without_usage(old["properties"], "Echo: hello there world")
    assert new["properties"]["usage"]["input_tokens"] == fake_llm.requests[-1].reply.input_tokens


# -- OpenAI models on other clouds ----------------------------------------------------------------


def test_clients_on_another_cloud_are_labelled_with_it(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    providers = pytest.importorskip("openai.providers")  # openai 3.x
    hosts = {
        "bedrock-openai": lambda: providers.bedrock(
            base_url=fake_llm.openai_base_url, api_key="fake-key", region="us-east-1"
        ),
        "vertex-openai": lambda: providers.vertex(
            base_url=fake_llm.openai_base_url, token_provider=lambda: "fake-token"
        ),
    }
    for label, provider in hosts.items():
        with openai.OpenAI(provider=provider(), max_retries=0) as client:
            expected = client.responses.create(**RESPONSES_ARGS)
        with provider_openai.OpenAI(
            voker_client=voker_client, provider=provider(), max_retries=0
        ) as client:
            result = client.responses.create(
                **RESPONSES_ARGS, **VOKER, voker_properties={"host": label}
            )
            client.with_options(timeout=30).chat.completions.create(
                **CHAT_ARGS, **VOKER, voker_properties={"host": label}
            )
        assert normalise(dump(result)) == normalise(dump(expected))
    events = llm_events(voker_client, voker_server)
    assert [(e["properties"]["host"], e["properties"]["provider"]) for e in events] == [
        ("bedrock-openai", "bedrock-openai"),
        ("bedrock-openai", "bedrock-openai"),
        ("vertex-openai", "vertex-openai"),
        ("vertex-openai", "vertex-openai"),
    ]
    # Per host: the plain client's request, then the wrapped client's two.
    wrapped_requests = [r for index, r in enumerate(fake_llm.requests) if index % 3]
    for event, request in zip(events, wrapped_requests, strict=True):
        assert event["properties"]["usage"]["output_tokens"] == request.reply.output_tokens
