"""Anthropic objects → the recorder's vocabulary: usage, finish reason, assembled streams.

Anthropic's ``usage.input_tokens`` leaves out cache reads and writes, which it reports beside
it; the §5 rule wants them counted in, so usage goes through ``input_excludes_cache=True``.
Thinking tokens (``output_tokens_details.thinking_tokens``) are already part of
``output_tokens`` and become ``reasoning_tokens``.

Streams are assembled with the SDK's own ``accumulate_event`` (the function its
``MessageStream`` uses), so the recorded output of a stream is the message
``get_final_message()`` returns; the assembly runs on the delivery worker, not on the caller's
thread.

A raw response whose body the caller reads itself (``with_streaming_response``, a
``with_raw_response`` stream) is recorded from the bytes it read (:class:`MessageBodyRecorder`):
they are decoded on the delivery worker as the SDK decodes them, a message's JSON or a stream's
server-sent events.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
from collections.abc import Callable
from typing import Any

from voker_core.ai._recorder import LLMCall, Outcome, Usage, normalise_finish_reason
from voker_core.ai._streams import BodyRecorder, StreamRecorder

__all__ = [
    "MessageBodyRecorder",
    "MessageStreamRecorder",
    "finish_reason",
    "message_outcome",
    "usage_of",
]

logger = logging.getLogger("voker")


# Anthropic stop reasons → the normalised vocabulary shared with the other providers
# (``stop``, ``length``, ``tool_calls``, ``content_filter``); others pass through unchanged.
def finish_reason(stop_reason: Any) -> str | None:
    """The normalised finish reason of an Anthropic ``stop_reason``."""
    if not isinstance(stop_reason, str) or not stop_reason:
        return None
    return normalise_finish_reason(stop_reason)


def usage_of(usage: Any) -> Usage | None:
    """A ``Usage``/``BetaUsage``/``MessageDeltaUsage`` under the single usage rule."""
    if usage is None:
        return None
    details = getattr(usage, "output_tokens_details", None)
    return Usage.from_counts(
        input_tokens=getattr(usage, "input_tokens", None),
        output_tokens=getattr(usage, "output_tokens", None),
        cache_read_input_tokens=getattr(usage, "cache_read_input_tokens", None),
        cache_creation_input_tokens=getattr(usage, "cache_creation_input_tokens", None),
        reasoning_tokens=getattr(details, "thinking_tokens", None),
        input_excludes_cache=True,
    )


def message_outcome(message: Any) -> Outcome:
    """What a ``Message``/``BetaMessage`` records (``output`` is the message itself)."""
    model = getattr(message, "model", None)
    return Outcome(
        output=message,
        model=model if isinstance(model, str) else None,
        usage=usage_of(getattr(message, "usage", None)),
        finish_reason=finish_reason(getattr(message, "stop_reason", None)),
    )


def _accumulate_function(beta: bool, http_response: Any) -> Callable[..., Any]:
    """The SDK's ``accumulate_event`` for a stream (the beta one takes the request's headers
    in later releases: ``http_response``'s, when it has them)."""
    accumulate_event: Callable[..., Any]
    if beta:
        from anthropic.lib.streaming._beta_messages import accumulate_event as beta_accumulate

        accumulate_event = beta_accumulate
    else:
        from anthropic.lib.streaming._messages import accumulate_event
    accepts = _parameters(accumulate_event)
    fixed: dict[str, Any] = {}
    if "request_headers" in accepts:  # the beta one, in later releases
        try:
            fixed["request_headers"] = http_response.request.headers
        except Exception:
            fixed["request_headers"] = None
    return functools.partial(accumulate_event, **fixed)


@functools.cache
def _parameters(function: Callable[..., Any]) -> frozenset[str]:
    """The keyword parameters of the SDK's ``accumulate_event`` (they vary by version:
    ``json_bufs``, ``output_format`` and the beta one's ``request_headers`` came later)."""
    try:
        return frozenset(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return frozenset({"event", "current_snapshot"})


class _AssembledMessage:
    """The final message of a stream, assembled only when the event is serialised.

    The delivery worker serialises event properties through ``model_dump``; building the message
    there keeps the SDK's accumulator (hundreds of microseconds for a long answer) off the
    caller's thread, and skips it entirely when content capture is off.
    """

    __slots__ = ("_accumulate", "_events", "_output_format")

    def __init__(
        self, events: tuple[Any, ...], accumulate: Callable[..., Any], output_format: Any
    ) -> None:
        self._events = events
        self._accumulate = accumulate
        self._output_format = output_format

    def message(self) -> Any:
        """The (Beta)ParsedMessage the SDK's ``MessageStream`` would hold (None: no start)."""
        snapshot: Any = None
        accumulate = self._accumulate
        accepts = _parameters(getattr(accumulate, "func", accumulate))
        extra: dict[str, Any] = {}
        if "json_bufs" in accepts:  # anthropic 1.5 and later
            extra["json_bufs"] = {}
        if self._output_format is not None and "output_format" in accepts:
            extra["output_format"] = self._output_format
        for event in self._events:
            if snapshot is None and getattr(event, "type", None) != "message_start":
                continue
            try:
                snapshot = accumulate(event=event, current_snapshot=snapshot, **extra)
            except Exception:
                # e.g. truncated tool-input JSON in a partial stream: keep what was assembled.
                logger.debug("voker: stopped assembling a partial stream", exc_info=True)
                break
        return snapshot

    def model_dump(self, mode: str = "json", **_: Any) -> Any:
        message = self.message()
        if message is None:
            return None
        try:
            return message.model_dump(mode="json")
        except Exception:  # e.g. a parsed_output pydantic cannot put in JSON mode
            return message.model_dump()

    def __repr__(self) -> str:
        return f"<streamed message of {len(self._events)} events>"


class MessageStreamRecorder(StreamRecorder):
    """Records a Messages stream from its raw events.

    The caller's thread only keeps the events (:class:`StreamRecorder` does). ``outcome``
    reads model, usage and stop reason from the ``message_start`` and last ``message_delta``
    events (the usage rules of the SDK's accumulator: a delta's counts are cumulative and
    replace the start's, absent ones leave them); the message itself is assembled later, on
    the delivery worker (:class:`_AssembledMessage`).
    """

    __slots__ = ("_accumulate", "_output_format")

    def __init__(
        self, call: LLMCall, *, beta: bool, stream: Any, output_format: Any = None
    ) -> None:
        super().__init__(call)
        self._accumulate = _accumulate_function(beta, getattr(stream, "response", None))
        self._output_format = output_format

    def has_content(self, item: Any) -> bool:
        return _is_content(item)

    def outcome(self) -> Outcome:
        return _events_outcome(tuple(self.items), self._accumulate, self._output_format)


def _is_content(event: Any) -> bool:
    """Whether a stream event carries output (the first one is the first token)."""
    return getattr(event, "type", None) == "content_block_delta"


def _events_outcome(
    events: tuple[Any, ...], accumulate: Callable[..., Any], output_format: Any
) -> Outcome:
    """The outcome of a stream's events: model, usage and stop reason from the
    ``message_start`` and the last ``message_delta``, the message assembled later."""
    # message_start comes first and the last message_delta near the end: look from both ends.
    start = next((e for e in events if getattr(e, "type", None) == "message_start"), None)
    if start is None:
        return Outcome()
    delta = next((e for e in reversed(events) if getattr(e, "type", None) == "message_delta"), None)
    message = start.message
    if delta is None:
        stop_reason, usage = None, usage_of(message.usage)
    else:
        stop_reason, usage = delta.delta.stop_reason, _updated_usage(message.usage, delta.usage)
    model = getattr(message, "model", None)
    return Outcome(
        output=_AssembledMessage(events, accumulate, output_format),
        model=model if isinstance(model, str) else None,
        usage=usage,
        finish_reason=finish_reason(stop_reason),
    )


class MessageBodyRecorder(BodyRecorder):
    """Records a Messages response from the body its caller read itself (see
    :class:`~voker_core.ai._streams.BodyRecorder`): a ``Message``'s JSON, or a stream's
    server-sent events, decoded on the delivery worker as the SDK decodes them."""

    __slots__ = ("_accumulate", "_beta")

    def __init__(self, call: LLMCall, http_response: Any, *, beta: bool, sse: bool) -> None:
        super().__init__(call, http_response)
        self._beta = beta
        # None: the body is a message, not a stream.
        self._accumulate = _accumulate_function(beta, http_response) if sse else None

    def has_content(self, item: Any) -> bool:
        return _is_content(item)

    def outcome(self) -> Outcome:
        if self._accumulate is None:
            try:
                data = json.loads(self.body())
            except ValueError:  # nothing read, or not all of it
                return Outcome()
            return message_outcome(_construct(_message_type(self._beta), data))
        events, times, error = _stream_events(self, _event_type(self._beta))
        # From here on the items are the events, each at the arrival of the bytes that
        # completed it: first_token_at() finds the first token among them, as in a stream.
        self.items, self._times = events, times
        outcome = _events_outcome(tuple(events), self._accumulate, None)
        return outcome if error is None else outcome._replace(error=error)


def _stream_events(
    recorder: BodyRecorder, event_type: Any
) -> tuple[list[Any], list[float], dict[str, Any] | None]:
    """The events of a Messages stream's body (as its ``Stream`` yields them: ``ping`` and
    empty ones left out), when each arrived, and the ``error`` event the stream reported (the
    ``Stream`` raises it; the raw reader saw it in the body), if any."""
    from anthropic._streaming import SSEDecoder

    events: list[Any] = []
    times: list[float] = []
    try:
        for sse, arrival in recorder.server_sent_events(SSEDecoder()):
            if sse.event == "error":
                return events, times, _stream_error(sse.data)
            if sse.event is None or sse.event == "ping" or not sse.data:
                continue
            events.append(_construct(event_type, sse.json()))
            times.append(arrival)
    except Exception:  # a body cut short: keep the events before the cut
        logger.debug("voker: stopped decoding a raw Anthropic stream", exc_info=True)
    return events, times, None


def _stream_error(data: str) -> dict[str, Any]:
    """A stream's ``error`` event, in ``error_info``'s shape."""
    try:
        payload = json.loads(data)
    except ValueError:
        payload = None
    error = payload.get("error") if isinstance(payload, dict) else None
    kind, message = (
        (error.get("type"), error.get("message")) if isinstance(error, dict) else (None, None)
    )
    return {
        "type": kind if isinstance(kind, str) and kind else "error",
        "message": message if isinstance(message, str) else data,
        "status_code": None,
    }


def _construct(type_: Any, data: Any) -> Any:
    """``data`` as the SDK makes it into ``type_`` for a response (without validation)."""
    from anthropic._models import construct_type

    return construct_type(type_=type_, value=data)


def _message_type(beta: bool) -> Any:
    if beta:
        from anthropic.types.beta import BetaMessage

        return BetaMessage
    from anthropic.types import Message

    return Message


def _event_type(beta: bool) -> Any:
    if beta:
        from anthropic.types.beta import BetaRawMessageStreamEvent

        return BetaRawMessageStreamEvent
    from anthropic.types import RawMessageStreamEvent

    return RawMessageStreamEvent


def _updated_usage(start: Any, delta: Any) -> Usage | None:
    """``message_start`` usage updated by a ``message_delta``'s, as the SDK accumulates it."""

    def pick(name: str) -> Any:
        value = getattr(delta, name, None)
        return value if value is not None else getattr(start, name, None)

    details = pick("output_tokens_details")
    return Usage.from_counts(
        input_tokens=pick("input_tokens"),
        output_tokens=pick("output_tokens"),
        cache_read_input_tokens=pick("cache_read_input_tokens"),
        cache_creation_input_tokens=pick("cache_creation_input_tokens"),
        reasoning_tokens=getattr(details, "thinking_tokens", None),
        input_excludes_cache=True,
    )
