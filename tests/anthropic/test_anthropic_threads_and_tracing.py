"""Two SDK features that run through our wrapper: ``beta.messages.thread`` (a conversation the
SDK sends turn by turn through our ``create``) takes the ``voker_*`` keywords; and the SDK's own
OpenTelemetry spans of streamed calls are what they are without Voker."""

from __future__ import annotations

import random
from typing import Any

import pytest
from anthropic.resources.beta.messages import Messages as BetaMessages

if not hasattr(BetaMessages, "thread"):  # opentelemetry-api comes with anthropic 2.x too
    pytest.skip(
        "beta.messages.thread and the SDK's own tracing are anthropic 2.x",
        allow_module_level=True,
    )

from opentelemetry import trace
from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags

from tests.anthropic.helpers import (
    MESSAGES,
    MODEL,
    aplain,
    awrapped,
    llm_events,
    plain,
    text_of,
    wrapped,
)
from tests.anthropic.helpers import VOKER as KEYWORDS

# -- message threads ------------------------------------------------------------------------------


def _check_turns(events: list[dict[str, Any]], replies: list[str]) -> None:
    assert len(events) == len(replies)
    for event, reply in zip(events, replies, strict=True):
        assert event["session"] == KEYWORDS["voker_session"]
        assert event["agent"] == KEYWORDS["voker_agent"]
        assert event["person"] == KEYWORDS["voker_person"]
        props = event["properties"]
        assert props["api"] == "anthropic-beta-messages"
        assert props["error"] is None
        assert props["finish_reason"] == "stop"
        assert text_of(props["output"]) == reply
        assert props["usage"]["input_tokens"] > 0
        assert "x-voker-keywords" not in str(props["inputs"])


def test_a_thread_takes_the_voker_keywords_for_every_turn(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    client = wrapped(fake_llm, voker_client)
    thread = client.beta.messages.thread(model=MODEL, max_tokens=64, **KEYWORDS)
    first = thread.send({"role": "user", "content": "hi"})
    # A turn's own extra_headers replace the thread's as a whole: the keywords stay.
    second = thread.send({"role": "user", "content": "again"}, extra_headers={"x-trace": "1"})
    thread.update(extra_headers={"x-trace": "2"})
    with thread.stream({"role": "user", "content": "streamed"}) as stream:
        third = stream.get_final_message()
    fork = thread.fork()
    del thread  # the fork goes on with the keywords
    fourth = fork.send({"role": "user", "content": "forked"})
    replies = [m.content[0].text for m in (first, second, third, fourth)]
    assert replies == ["Echo: hi", "Echo: again", "Echo: streamed", "Echo: forked"]
    events = llm_events(voker_client, voker_server)
    _check_turns(events, replies)
    assert [e["properties"]["stream"] for e in events] == [False, False, True, False]
    assert all("x-voker-keywords" not in request.headers for request in fake_llm.requests)


async def test_an_async_thread_takes_the_voker_keywords(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    client = awrapped(fake_llm, voker_client)
    thread = client.beta.messages.thread(model=MODEL, max_tokens=64, **KEYWORDS)
    reply = await thread.send({"role": "user", "content": "hi"})
    _check_turns(llm_events(voker_client, voker_server), [reply.content[0].text])
    await client.close()


# -- the SDK's OpenTelemetry spans ----------------------------------------------------------------


class _Span(trace.Span):
    """An in-memory span: its attributes, status and whether it ended."""

    def __init__(self, name: str, attributes: Any) -> None:
        self.name = name
        self.attributes = dict(attributes or {})
        self.status: Status | None = None
        self.ended = False
        self._context = SpanContext(
            random.getrandbits(128), random.getrandbits(64), False, TraceFlags(1)
        )

    def end(self, end_time: Any = None) -> None:
        self.ended = True

    def get_span_context(self) -> SpanContext:
        return self._context

    def set_attributes(self, attributes: Any) -> None:
        self.attributes.update(attributes)

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def add_event(self, name: str, attributes: Any = None, timestamp: Any = None) -> None:
        pass

    def update_name(self, name: str) -> None:
        self.name = name

    def is_recording(self) -> bool:
        return not self.ended

    def set_status(self, status: Any, description: Any = None) -> None:
        self.status = status if isinstance(status, Status) else Status(status, description)

    def record_exception(self, *args: Any, **kwargs: Any) -> None:
        pass


class _Tracer(trace.Tracer):
    def __init__(self, spans: list[_Span]) -> None:
        self.spans = spans

    def start_span(
        self, name: str, context: Any = None, kind: Any = None, attributes: Any = None, **_: Any
    ) -> _Span:  # type: ignore[override]
        span = _Span(name, attributes)
        self.spans.append(span)
        return span

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


class _Provider(trace.TracerProvider):
    """Collects the spans of one client (passed as its ``open_telemetry`` tracer provider)."""

    def __init__(self) -> None:
        self.spans: list[_Span] = []

    def get_tracer(self, *args: Any, **kwargs: Any) -> _Tracer:
        return _Tracer(self.spans)


def _span_summary(span: _Span) -> tuple[Any, ...]:
    assert span.ended
    attributes = span.attributes
    return (
        span.name,
        span.status.status_code if span.status is not None else None,
        attributes.get("error.type"),
        attributes.get("gen_ai.usage.output_tokens"),
        "gen_ai.response.time_to_first_chunk" in attributes,
    )


def _args(voker: dict[str, Any]) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 64, "messages": MESSAGES, **voker}


def _read_streams(client: Any, voker: dict[str, Any]) -> None:
    """A loop over a stream, ``messages.stream``, and a stream read one item at a time."""
    for _ in client.messages.create(stream=True, **_args(voker)):
        pass
    with client.messages.stream(**_args(voker)) as stream:
        stream.get_final_text()
    stream = client.messages.create(stream=True, **_args(voker))
    for _ in iter(lambda: next(stream, None), None):
        pass


async def _aread_streams(client: Any, voker: dict[str, Any]) -> None:
    """The async twin of :func:`_read_streams`."""
    async for _ in await client.messages.create(stream=True, **_args(voker)):
        pass
    async with client.messages.stream(**_args(voker)) as stream:
        await stream.get_final_text()
    stream = await client.messages.create(stream=True, **_args(voker))
    while await anext(stream, None) is not None:
        pass
    await client.close()


@pytest.mark.parametrize("is_async", [False, True])
async def test_the_sdks_spans_of_streamed_calls_are_as_without_voker(
    is_async: bool, fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    """The SDK's tracing sees every streamed item (usage, time to first chunk, status ``OK``)
    through the wrapper as without it."""
    spans = {}
    for name in ("plain", "voker"):
        provider = _Provider()
        options = {"open_telemetry": {"tracer_provider": provider}}
        voker = KEYWORDS if name == "voker" else {}
        if is_async:
            aclient = (
                awrapped(fake_llm, voker_client, **options)
                if voker
                else aplain(fake_llm, **options)
            )
            await _aread_streams(aclient, voker)
        else:
            client = (
                wrapped(fake_llm, voker_client, **options) if voker else plain(fake_llm, **options)
            )
            _read_streams(client, voker)
        spans[name] = [_span_summary(span) for span in provider.spans]
    assert len(spans["plain"]) == 3
    assert all(s[1] is StatusCode.OK and s[3] and s[4] for s in spans["plain"]), spans["plain"]
    assert spans["voker"] == spans["plain"]
    events = llm_events(voker_client, voker_server)
    assert len(events) == 3
    for event in events:
        props = event["properties"]
        assert props["error"] is None
        assert props["finish_reason"] == "stop"
        assert props["usage"]["output_tokens"] > 0
        assert 0 < props["time_to_first_token_ms"] <= props["latency_ms"]
