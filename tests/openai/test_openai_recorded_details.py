"""What lands for calls whose response is out of the ordinary: Azure's prompt-filter first
chunk, ``parse`` helpers that raise after the model answered, ``with_streaming_response``
bodies read long before the caller closes, ``n`` > 1 choices, spoken (audio) replies, and
background responses."""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from tests.openai.helpers import (
    CHAT_ARGS,
    RESPONSES_ARGS,
    VOKER,
    awrapped,
    azure_options,
    check_usage,
    dump,
    llm_events,
    normalise,
    one_event,
    plain,
    wrapped,
)
from voker_core.ai import provider_openai
from voker_core.testing.fake_llm import Reply, ToolCall, Usage


class Person(BaseModel):
    name: str
    age: int


PERSON = {"name": "Ada", "age": 36}
CUT_SHORT = Reply(structured=PERSON, finish_reason="length", usage=Usage(40, 16))


# -- Azure ----------------------------------------------------------------------------------------


def test_azure_stream_takes_model_and_ids_from_the_chunks_after_the_prompt_filter(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(model="gpt-4o-2024-08-06")
    client = provider_openai.AzureOpenAI(**azure_options(fake_llm, voker_client=voker_client))
    with client:
        stream = client.chat.completions.create(
            **{**CHAT_ARGS, "model": "my-deployment"}, **VOKER, stream=True
        )
        chunks = list(stream)
    assert chunks[0].model == "" and not chunks[0].choices  # Azure's prompt-filter chunk
    props = one_event(voker_client, voker_server)["properties"]
    assert props["model"] == "gpt-4o-2024-08-06"
    output = props["output"]
    assert output["model"] == "gpt-4o-2024-08-06"
    assert output["id"] == chunks[1].id and output["id"]
    assert output["created"] == chunks[1].created > 0
    assert output["system_fingerprint"] == chunks[1].system_fingerprint
    assert output["choices"][0]["message"]["content"] == fake_llm.requests[0].reply.text
    check_usage(props, fake_llm.requests[0].reply)
    assert props["finish_reason"] == "stop"
    assert props["error"] is None
    assert props["latency_ms"] > 0


# -- parse helpers raising after the model answered ----------------------------------------------


def _check_cut_short(props: dict[str, Any], fake_llm: Any) -> None:
    """The call failed as the caller saw, and what the model spent and said is kept."""
    assert props["error"]["type"] == "LengthFinishReasonError"
    assert props["finish_reason"] == "length"
    assert props["model"] == CHAT_ARGS["model"]
    check_usage(props, fake_llm.requests[0].reply)
    message = props["output"]["choices"][0]["message"]
    assert json.loads(message["content"]) == PERSON
    assert props["latency_ms"] > 0


def test_parse_cut_short_records_the_error_with_the_completion(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(CUT_SHORT)
    with wrapped(fake_llm, voker_client) as client:
        with pytest.raises(openai.LengthFinishReasonError) as caught:
            client.chat.completions.parse(**CHAT_ARGS, **VOKER, response_format=Person)
    assert caught.value.completion.usage.total_tokens == 56  # type: ignore[union-attr]
    _check_cut_short(one_event(voker_client, voker_server)["properties"], fake_llm)


async def test_async_parse_cut_short_records_the_error_with_the_completion(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(CUT_SHORT)
    async with awrapped(fake_llm, voker_client) as client:
        with pytest.raises(openai.LengthFinishReasonError):
            await client.chat.completions.parse(**CHAT_ARGS, **VOKER, response_format=Person)
    _check_cut_short(one_event(voker_client, voker_server)["properties"], fake_llm)


def test_raw_response_parse_cut_short_records_the_error_quietly(
    fake_llm: Any, voker_client: Any, voker_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fake_llm.queue_reply(CUT_SHORT)
    with caplog.at_level(logging.WARNING, logger="voker"):
        with wrapped(fake_llm, voker_client) as client:
            raw = client.chat.completions.with_raw_response.parse(
                **CHAT_ARGS, **VOKER, response_format=Person
            )
            with pytest.raises(openai.LengthFinishReasonError):
                raw.parse()
    assert not caplog.records
    _check_cut_short(one_event(voker_client, voker_server)["properties"], fake_llm)


def test_stream_manager_cut_short_records_the_callers_error(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(CUT_SHORT)
    with wrapped(fake_llm, voker_client) as client:
        with pytest.raises(openai.LengthFinishReasonError) as caught:
            with client.chat.completions.stream(
                **CHAT_ARGS, **VOKER, response_format=Person
            ) as stream:
                stream.get_final_completion()
    props = one_event(voker_client, voker_server)["properties"]
    assert props["error"]["type"] == "LengthFinishReasonError"
    assert props["error"]["message"] == str(caught.value)
    assert props["finish_reason"] == "length"
    assert props["model"] == CHAT_ARGS["model"]
    assert json.loads(props["output"]["choices"][0]["message"]["content"]) == PERSON
    # The usage chunk follows the one the helper raised at: never read, by the caller either.
    assert props["usage"] is None and caught.value.completion.usage is None


async def test_async_stream_manager_cut_short_records_the_callers_error(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(CUT_SHORT)
    async with awrapped(fake_llm, voker_client) as client:
        with pytest.raises(openai.LengthFinishReasonError):
            async with client.chat.completions.stream(
                **CHAT_ARGS, **VOKER, response_format=Person
            ) as stream:
                async for _ in stream:
                    pass
    props = one_event(voker_client, voker_server)["properties"]
    assert props["error"]["type"] == "LengthFinishReasonError"
    assert props["finish_reason"] == "length"


# -- with_streaming_response: latency ends when the body is read -----------------------------


def test_streaming_response_latency_ends_when_the_body_is_read(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(Reply(text="fast", delay=0.2), times=2)
    with wrapped(fake_llm, voker_client) as client:
        with client.chat.completions.with_streaming_response.create(
            **CHAT_ARGS, **VOKER
        ) as response:
            completion = response.parse()
            time.sleep(1.0)  # the caller's own work inside the block
        with client.responses.with_streaming_response.create(**RESPONSES_ARGS, **VOKER) as response:
            response.parse()
            time.sleep(1.0)
    events = llm_events(voker_client, voker_server)
    assert len(events) == 2
    for event in events:
        props = event["properties"]
        assert 200 <= props["latency_ms"] < 900, props["latency_ms"]
        assert props["error"] is None
        assert props["finish_reason"] == "stop"
        assert props["usage"]["output_tokens"] == 1
    assert events[0]["properties"]["output"]["choices"][0]["message"]["content"] == "fast"
    assert events[0]["properties"]["model"] == completion.model


async def test_async_streaming_response_latency_ends_when_the_body_is_read(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(Reply(text="fast", delay=0.2))
    async with awrapped(fake_llm, voker_client) as client:
        async with client.chat.completions.with_streaming_response.create(
            **CHAT_ARGS, **VOKER
        ) as response:
            await response.parse()
            time.sleep(1.0)
    props = one_event(voker_client, voker_server)["properties"]
    assert 200 <= props["latency_ms"] < 900, props["latency_ms"]
    assert props["output"]["choices"][0]["message"]["content"] == "fast"


# -- n > 1 ----------------------------------------------------------------------------------------


def test_n_choices_record_choice_zeros_finish_reason_streamed_or_not(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    # Choice 0 stops at the length limit, the other one (streamed after it) naturally.
    fake_llm.queue_reply(Reply(text="A B", finish_reason="length"), times=2)
    with wrapped(fake_llm, voker_client) as client:
        client.chat.completions.create(**CHAT_ARGS, **VOKER, n=2)
        list(client.chat.completions.create(**CHAT_ARGS, **VOKER, n=2, stream=True))
    events = llm_events(voker_client, voker_server)
    assert [e["properties"]["stream"] for e in events] == [False, True]
    for event in events:
        props = event["properties"]
        assert [c["finish_reason"] for c in props["output"]["choices"]] == ["length", "stop"]
        assert props["finish_reason"] == "length"
        assert props["error"] is None
        assert props["model"] == CHAT_ARGS["model"]
        assert props["usage"]["output_tokens"] == 2


# -- Responses: client-side tool calls ------------------------------------------------------------


def test_a_custom_tool_call_item_finishes_with_tool_calls(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(Reply(tool_calls=[ToolCall("run_sql", "SELECT 1")]), times=2)
    tools: Any = [{"type": "custom", "name": "run_sql"}]
    with wrapped(fake_llm, voker_client) as client:
        response = client.responses.create(**RESPONSES_ARGS, **VOKER, tools=tools)
        list(client.responses.create(**RESPONSES_ARGS, **VOKER, tools=tools, stream=True))
    assert response.output[0].type == "custom_tool_call"
    events = llm_events(voker_client, voker_server)
    assert [e["properties"]["stream"] for e in events] == [False, True]
    for event in events:
        props = event["properties"]
        assert props["finish_reason"] == "tool_calls"
        assert props["output"]["output"][0]["type"] == "custom_tool_call"
        assert props["error"] is None
        check_usage(props, fake_llm.requests[0].reply)


# -- failures the provider reports in its answer ----------------------------------------------------


def test_a_failed_response_records_the_providers_error(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    """The Responses API reports a failed generation in a 200 answer (``status: "failed"``, or
    a stream's ``error`` event): the SDK raises nothing, and the call must not look fine."""
    fake_llm.queue_reply(Reply(failed=True, error_message="The model crashed"), times=2)
    with wrapped(fake_llm, voker_client) as client:
        response = client.responses.create(**RESPONSES_ARGS, **VOKER)
        streamed = [e.type for e in client.responses.create(**RESPONSES_ARGS, **VOKER, stream=True)]
    assert response.status == "failed"
    assert streamed[-1] == "error"
    events = llm_events(voker_client, voker_server)
    assert [e["properties"]["stream"] for e in events] == [False, True]
    for event in events:
        props = event["properties"]
        assert props["finish_reason"] == "error"
        assert props["error"] == {
            "type": "server_error",
            "message": "The model crashed",
            "status_code": None,
        }


async def test_async_failed_response_stream_records_the_providers_error(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(Reply(failed=True))
    async with awrapped(fake_llm, voker_client) as client:
        stream = await client.responses.create(**RESPONSES_ARGS, **VOKER, stream=True)
        async with stream:
            kinds = [event.type async for event in stream]
    assert kinds[-1] == "error"
    props = one_event(voker_client, voker_server)["properties"]
    assert props["error"]["type"] == "server_error"
    assert props["finish_reason"] == "error"


# -- audio output ---------------------------------------------------------------------------------

AUDIO_ARGS: dict[str, Any] = {
    **CHAT_ARGS,
    "model": "gpt-4o-audio-preview",
    "modalities": ["text", "audio"],
    "audio": {"voice": "alloy", "format": "pcm16"},
}


def _audio_pieces(chunks: Any) -> list[dict[str, Any]]:
    """The ``delta.audio`` pieces of a chat stream, as sent (SDKs before ``ChoiceDelta.audio``
    keep them as an extra field)."""
    deltas = (chunk.choices[0].delta.to_dict() for chunk in chunks if chunk.choices)
    return [delta["audio"] for delta in deltas if delta.get("audio")]


def test_a_streamed_spoken_reply_is_recorded_as_a_whole_ones_audio(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    """A spoken reply streams as ``delta.audio`` (transcript, then base64 pieces each encoded
    on its own), never as ``content``: the event's message has the joined ``audio``, as a
    completion that was not streamed has it, and the first token is the first piece."""
    with plain(fake_llm) as client:
        whole = client.chat.completions.create(**AUDIO_ARGS).choices[0].message
        heard = "".join(
            piece.get("transcript", "")
            for piece in _audio_pieces(client.chat.completions.create(**AUDIO_ARGS, stream=True))
        )
    assert whole.audio is not None and heard == whole.audio.transcript
    with wrapped(fake_llm, voker_client) as client:
        pieces = _audio_pieces(client.chat.completions.create(**AUDIO_ARGS, **VOKER, stream=True))
    props = one_event(voker_client, voker_server)["properties"]
    message = props["output"]["choices"][0]["message"]
    assert message["content"] is None
    audio = message["audio"]
    assert audio["transcript"] == whole.audio.transcript
    assert base64.b64decode(audio["data"]) == base64.b64decode(whole.audio.data)
    assert audio["data"] == whole.audio.data  # one valid base64, not the pieces' text joined
    assert audio["id"] == pieces[0]["id"]  # sent with the first piece
    assert audio["expires_at"] == pieces[-1]["expires_at"]  # sent alone, last
    assert props["time_to_first_token_ms"] is not None
    assert props["finish_reason"] == "stop"
    check_usage(props, fake_llm.requests[-1].reply)


# -- background responses ---------------------------------------------------------------------------


def test_a_background_response_is_recorded_as_queued(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    """``background=True`` returns at once with a ``queued`` response; the finished one is
    fetched later with ``retrieve()``, which is not a model call and is not recorded. So the
    one event is the queued response's: no output, no usage (docs/providers.md)."""
    with plain(fake_llm) as client:
        expected = client.responses.create(**RESPONSES_ARGS, background=True)
    with wrapped(fake_llm, voker_client) as client:
        queued = client.responses.create(**RESPONSES_ARGS, **VOKER, background=True)
        finished = client.responses.retrieve(queued.id)
    assert normalise(dump(queued)) == normalise(dump(expected))
    assert queued.status == "queued" and finished.status == "completed"
    assert finished.usage is not None and finished.output_text
    props = one_event(voker_client, voker_server)["properties"]
    assert props["output"]["id"] == queued.id
    assert props["output"]["status"] == "queued"
    assert props["output"]["output"] == []
    assert props["usage"] is None
    assert props["finish_reason"] is None
    assert props["error"] is None
    assert props["inputs"]["background"] is True
