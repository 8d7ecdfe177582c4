"""The usage we ask for on a streaming caller's behalf is taken out of the response bytes.

The wrapper adds ``stream_options.include_usage`` to streamed chats that do not say, then cuts
the usage-only event and the ``"usage":null`` of every other chunk out of the bytes before the
SDK's own decoder reads them. These tests feed real fake-server streams, split into network
reads at every kind of place, through that filter and the SDK's real ``SSEDecoder``.
"""

from __future__ import annotations

import itertools
import json
from types import SimpleNamespace
from typing import Any

import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from openai._streaming import SSEDecoder
from openai.types.chat import ChatCompletionChunk

from tests.openai.helpers import CHAT_ARGS, VOKER, normalise, one_event, plain, wrapped
from voker_core.ai._openai._translate import ChatStreamRecorder, _UsageEventFilter
from voker_core.ai._recorder import LLMCall


def _stream_bytes(fake_llm: Any, *, usage: bool) -> bytes:
    body: dict[str, Any] = {**CHAT_ARGS, "stream": True}
    if usage:
        body["stream_options"] = {"include_usage": True}
    response = requests.post(
        f"{fake_llm.openai_base_url}/chat/completions",
        json=body,
        headers={"Authorization": "Bearer fake-key"},
        timeout=10,
    )
    response.raise_for_status()
    return response.content


def _recorder(voker_client: Any) -> ChatStreamRecorder:
    call = LLMCall.begin(
        api="openai-chat-completions",
        provider="openai",
        kwargs={**CHAT_ARGS, **VOKER, "stream": True},
        voker_client=voker_client,
    )
    return ChatStreamRecorder(call, hide_usage_chunk=True)


def _decoded(reads: list[bytes], recorder: ChatStreamRecorder | None = None) -> list[Any]:
    """The JSON of each event the SDK's decoder yields for ``reads`` (through the filter)."""
    decoder: Any = SSEDecoder()
    if recorder is not None:
        decoder = _UsageEventFilter(decoder, recorder)
    return [
        json.loads(event.data)
        for event in decoder.iter_bytes(iter(reads))
        if event.data != "[DONE]"
    ]


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = [0, *sorted(set(cuts)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


def _usage_only(event: Any) -> bool:
    return not event.get("choices") and event.get("usage") is not None


def test_whole_events_lose_the_usage_event_and_every_usage_null(
    fake_llm: Any, voker_client: Any
) -> None:
    with_usage = _stream_bytes(fake_llm, usage=True)
    expected = normalise(_decoded([_stream_bytes(fake_llm, usage=False)]))
    events = with_usage.split(b"\n\n")
    for reads in (
        [with_usage],  # everything in one read
        [event + b"\n\n" for event in events[:-1]],  # one read per event, as a server flushes
    ):
        recorder = _recorder(voker_client)
        observed = _decoded(reads, recorder)
        assert normalise(observed) == expected
        assert all("usage" not in event for event in observed)
        assert isinstance(recorder._usage, bytes)
        usage = json.loads(recorder._usage)["usage"]
        assert usage["prompt_tokens"] == fake_llm.requests[0].reply.input_tokens


def test_any_split_into_reads_gives_the_caller_the_same_events(
    fake_llm: Any, voker_client: Any
) -> None:
    with_usage = _stream_bytes(fake_llm, usage=True)
    expected = normalise(_decoded([_stream_bytes(fake_llm, usage=False)]))
    reply = fake_llm.requests[0].reply

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.integers(min_value=1, max_value=len(with_usage) - 1), max_size=12))
    def check(cuts: list[int]) -> None:
        recorder = _recorder(voker_client)
        observed = _decoded(_split(with_usage, cuts), recorder)
        if recorder._usage is None:
            # The usage event straddled two reads: it reaches the SDK, and the recorder's
            # hides() hides the parsed chunk instead (see the next test).
            assert _usage_only(observed[-1])
            observed = observed[:-1]
        else:
            assert json.loads(recorder._usage)["usage"]["total_tokens"] == reply.total_tokens
            assert not any(_usage_only(event) for event in observed)
        # A "usage":null split by a read boundary stays; it means what its absence means.
        for event in observed:
            if "usage" in event:
                assert event.pop("usage") is None
        assert normalise(observed) == expected

    check()


def test_a_usage_event_split_between_reads_is_hidden_from_the_caller_and_recorded(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with_usage = _stream_bytes(fake_llm, usage=True)
    reply = fake_llm.requests[0].reply
    middle = with_usage.index(b'"choices":[]')  # inside the usage-only event
    recorder = _recorder(voker_client)
    stream = SimpleNamespace(_decoder=SSEDecoder())
    recorder.take_usage_event(stream)  # as the wrapper does: the filter, and no hiding yet
    assert not recorder._hiding
    reads = iter([with_usage[:middle], with_usage[middle:]])
    chunks = (
        ChatCompletionChunk.model_validate(json.loads(event.data))
        for event in stream._decoder.iter_bytes(reads)
        if event.data != "[DONE]"
    )
    shown = list(recorder.wrap(chunks))
    assert recorder._hiding  # the filter saw the usage go through uncut
    assert shown and all(chunk.choices for chunk in shown)
    props = one_event(voker_client, voker_server)["properties"]
    assert props["usage"]["input_tokens"] == reply.input_tokens
    assert props["usage"]["output_tokens"] == reply.output_tokens
    assert props["output"]["choices"][0]["message"]["content"] == "Echo: hello there world"
    assert 0 <= props["time_to_first_token_ms"] <= props["latency_ms"]


def test_next_to_the_end_records_the_stream_once_with_usage(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with wrapped(fake_llm, voker_client) as client:
        stream = client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True)
        chunks = []
        while True:
            try:
                chunks.append(next(stream))
            except StopIteration:
                break
    assert all(chunk.choices for chunk in chunks)
    props = one_event(voker_client, voker_server)["properties"]
    assert props["finish_reason"] == "stop"
    assert props["usage"]["input_tokens"] == fake_llm.requests[-1].reply.input_tokens
    assert props["output"]["choices"][0]["message"]["content"] == "Echo: hello there world"


def test_the_callers_extra_body_is_sent_and_left_as_it_was(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    extra_body = {"user": "from-extra-body"}
    with wrapped(fake_llm, voker_client) as client:
        chunks = list(
            client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True, extra_body=extra_body)
        )
    assert extra_body == {"user": "from-extra-body"}
    sent = fake_llm.requests[-1].body
    assert sent["user"] == "from-extra-body"
    assert sent["stream_options"] == {"include_usage": True}
    assert all(chunk.choices for chunk in chunks)
    props = one_event(voker_client, voker_server)["properties"]
    assert props["usage"]["output_tokens"] == fake_llm.requests[-1].reply.output_tokens
    assert props["inputs"]["extra_body"] == {"user": "from-extra-body"}
    assert "stream_options" not in props["inputs"]


def test_stream_options_in_the_callers_extra_body_are_theirs(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    extra_body = {"stream_options": {"include_usage": True}}
    with plain(fake_llm) as client:
        expected = list(
            client.chat.completions.create(**CHAT_ARGS, stream=True, extra_body=extra_body)
        )
    with wrapped(fake_llm, voker_client) as client:
        chunks = list(
            client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True, extra_body=extra_body)
        )
    assert len(chunks) == len(expected)
    assert not chunks[-1].choices and chunks[-1].usage is not None  # their chunk, not hidden
    props = one_event(voker_client, voker_server)["properties"]
    assert props["usage"]["output_tokens"] == chunks[-1].usage.completion_tokens
