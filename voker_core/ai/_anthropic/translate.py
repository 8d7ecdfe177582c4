"""Anthropic objects → the recorder's vocabulary: usage, finish reason, assembled streams.

Anthropic's ``usage.input_tokens`` leaves out cache reads and writes, which it reports beside
it; the §5 rule wants them counted in, so usage goes through ``input_excludes_cache=True``.
Thinking tokens (``output_tokens_details.thinking_tokens``) are already part of
``output_tokens`` and become ``reasoning_tokens``.

Streams are assembled with the SDK's own ``accumulate_event`` (the function its
``MessageStream`` uses), so the recorded output of a stream is the message
``get_final_message()`` returns; the assembly runs on the delivery worker, not on the caller's
thread.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

from voker_core.ai._recorder import LLMCall, Outcome, Usage, normalise_finish_reason
from voker_core.ai._streams import StreamRecorder

__all__ = ["MessageStreamRecorder", "finish_reason", "message_outcome", "usage_of"]

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


def _accumulate_function(beta: bool, stream: Any) -> Callable[..., Any]:
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
            fixed["request_headers"] = stream.response.request.headers
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
        self._accumulate = _accumulate_function(beta, stream)
        self._output_format = output_format

    def has_content(self, item: Any) -> bool:
        return getattr(item, "type", None) == "content_block_delta"

    def outcome(self) -> Outcome:
        events = tuple(self.items)
        # message_start comes first and the last message_delta near the end: look from both ends.
        start = next((e for e in events if getattr(e, "type", None) == "message_start"), None)
        if start is None:
            return Outcome()
        delta = next(
            (e for e in reversed(events) if getattr(e, "type", None) == "message_delta"), None
        )
        message = start.message
        if delta is None:
            stop_reason, usage = None, usage_of(message.usage)
        else:
            stop_reason, usage = delta.delta.stop_reason, _updated_usage(message.usage, delta.usage)
        model = getattr(message, "model", None)
        return Outcome(
            output=_AssembledMessage(events, self._accumulate, self._output_format),
            model=model if isinstance(model, str) else None,
            usage=usage,
            finish_reason=finish_reason(stop_reason),
        )


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
