"""The steps of one wrapped OpenAI call, shared by the sync and async resources.

A wrapped method does::

    call, send, hide = begin(self, CHAT, kwargs)        # TypeError here if no session/agent
    result = call.invoke(super().create, send)          # async: await call.ainvoke(...)
    return settle(call, result, CHAT, hide_usage_chunk=hide)

``settle`` records a returned response, or attaches a stream recorder to a returned stream, and
always hands back the provider's object unchanged. It also understands the
``with_raw_response`` / ``with_streaming_response`` wrappers, which call the same methods.

``.stream()`` helpers make their request later (when the stream manager is entered) through our
own ``create``. The call is begun in ``.stream()`` (so a missing session raises at once) and
carried to that ``create`` inside ``extra_headers`` as a :class:`PendingCall`, which ``create``
removes before anything reaches the network.
"""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeVar, cast

import openai
from openai import AsyncStream, Omit, Stream
from openai._legacy_response import LegacyAPIResponse
from openai._response import AsyncAPIResponse, BaseAPIResponse
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from voker_core.ai._openai._translate import (
    ChatStreamRecorder,
    ResponsesStreamRecorder,
    chat_outcome,
    responses_outcome,
)
from voker_core.ai._recorder import LLMCall, Outcome
from voker_core.ai._streams import StreamRecorder, observe_close, observe_stream

__all__ = [
    "CHAT",
    "PENDING_HEADER",
    "RESPONSES",
    "Api",
    "PendingCall",
    "begin",
    "begin_pending",
    "merge_named",
    "settle",
    "settle_async",
]

logger = logging.getLogger("voker")

R = TypeVar("R")

PENDING_HEADER = "x-voker-pending-call"
# Set by the SDK's with_raw_response / with_streaming_response wrappers.
_RAW_HEADER = "X-Stainless-Raw-Response"
_UNSET = (openai.NotGiven, openai.Omit)


class Api(NamedTuple):
    """How one OpenAI API's objects are read."""

    name: str
    outcome: Callable[[Any], Outcome]
    stream_recorder: Callable[..., StreamRecorder]
    model_class: type[Any]


CHAT = Api("openai-chat-completions", chat_outcome, ChatStreamRecorder, ChatCompletion)
RESPONSES = Api("openai-responses", responses_outcome, ResponsesStreamRecorder, Response)


class PendingCall(str):
    """A call begun by ``.stream()``, travelling to ``create`` as an ``extra_headers`` value.

    A ``str`` (``"1"``) so that, should a future SDK bypass our ``create``, it is a harmless
    header rather than a crash.
    """

    call: LLMCall

    def __new__(cls, call: LLMCall) -> PendingCall:
        self = super().__new__(cls, "1")
        self.call = call
        return self


def begin(
    resource: Any,
    api: Api,
    kwargs: Mapping[str, Any],
    *,
    stream: bool | None = None,
    request_usage: bool = False,
) -> tuple[LLMCall, dict[str, Any], bool]:
    """Begin recording (or adopt the call a ``.stream()`` began).

    Returns the call, the keyword arguments to send to OpenAI (never the caller's dict), and
    whether the wrapper asked for stream usage on the caller's behalf (the extra chunk is then
    hidden). ``request_usage``: add ``stream_options.include_usage`` to a streaming call that
    does not say (Chat Completions only report usage in streams when asked).
    """
    headers = kwargs.get("extra_headers")
    pending = headers.get(PENDING_HEADER) if headers else None
    if isinstance(pending, PendingCall):
        call = pending.call
        call.request_started()  # begun at .stream(); the request is made now, on entry
        send = dict(kwargs)
        send["extra_headers"] = {k: v for k, v in headers.items() if k != PENDING_HEADER}  # type: ignore[union-attr]
    else:
        client = resource._client
        call = LLMCall.begin(
            api=api.name,
            provider=getattr(client, "_voker_provider", "openai"),
            kwargs=kwargs,
            voker_client=getattr(client, "_voker_client", None),
            stream=stream,
        )
        send = call.provider_kwargs
    hide = False
    # Not for raw responses: a caller reading the raw body would see the extra chunk.
    if request_usage and send.get("stream") is True and not (headers and _RAW_HEADER in headers):
        options = send.get("stream_options")
        extra_body = send.get("extra_body")
        if (options is None or isinstance(options, _UNSET)) and (
            extra_body is None
            or (isinstance(extra_body, Mapping) and "stream_options" not in extra_body)
        ):
            # As extra_body: merged into the JSON as it is, where the typed parameter would
            # cost the SDK's per-call type-driven transform of it.
            send["extra_body"] = {**(extra_body or {}), "stream_options": {"include_usage": True}}
            hide = True
        elif isinstance(options, Mapping) and "include_usage" not in options:
            send["stream_options"] = {**options, "include_usage": True}
            hide = True
    return call, send, hide


def begin_pending(
    resource: Any, api: Api, kwargs: Mapping[str, Any]
) -> tuple[LLMCall, dict[str, Any]]:
    """Begin the call of a ``.stream()`` helper; the returned kwargs carry it to ``create``."""
    call = LLMCall.begin(
        api=api.name,
        provider=getattr(resource._client, "_voker_provider", "openai"),
        kwargs=kwargs,
        voker_client=getattr(resource._client, "_voker_client", None),
        stream=True,
    )
    send = dict(call.provider_kwargs)
    headers = send.get("extra_headers")
    send["extra_headers"] = {
        **(headers if isinstance(headers, Mapping) else {}),
        PENDING_HEADER: PendingCall(call),
    }
    return call, send


class _BodyRecorder(StreamRecorder):
    """``with_streaming_response`` without SSE: read what the caller read, when it closes."""

    __slots__ = ("_api", "_body", "_http")

    def __init__(self, call: LLMCall, api: Api, http_response: Any) -> None:
        super().__init__(call)
        self._api = api
        self._http = weakref.ref(http_response)  # the hook lives on the response: no cycle
        self._body: bytes | None = None

    def finish(self) -> None:
        if not self.call.done:
            # The body's bytes, if the caller read them; parsed later, on the delivery thread.
            try:
                self._body = self._http().content  # type: ignore[union-attr]  # raises unless read
            except Exception:
                self._body = None
        super().finish()

    def outcome(self) -> Outcome:
        if self._body is None:
            return Outcome()
        try:
            data = json.loads(self._body)
        except ValueError:
            return Outcome()
        return self._api.outcome(self._api.model_class.model_validate(data))


def settle(
    call: LLMCall,
    result: R,
    api: Api,
    *,
    hide_usage_chunk: bool = False,
    parsed: Any = None,
) -> R:
    """Record ``result`` (or watch it, for streams); return it unchanged. Never raises.

    ``parsed``: for an async ``with_streaming_response`` stream, the ``Stream`` its
    ``await parse()`` returned (the sync path parses here).
    """
    try:
        if isinstance(result, api.model_class):  # the usual case first: a parsed response
            call.end(result, api.outcome)
        elif isinstance(result, (Stream, AsyncStream)):
            _observe(result, call, api, hide_usage_chunk)
        elif isinstance(result, LegacyAPIResponse):
            # with_raw_response: the body is read already; parse() is cached, so the caller's
            # own parse() returns this very object (for streams, the stream we observe).
            _settle_parsed(call, result.parse(), api, hide_usage_chunk)
        elif isinstance(result, BaseAPIResponse):
            # with_streaming_response: nothing read yet.
            if getattr(result, "_is_sse_stream", False):
                if parsed is None and not isinstance(result, AsyncAPIResponse):
                    parsed = cast(Any, result).parse()  # builds the Stream; reads nothing
                if parsed is not None:
                    _settle_parsed(call, parsed, api, hide_usage_chunk)
                else:
                    observe_close(result, StreamRecorder(call))
            else:
                # Watch the wrapper's close (its context manager's exit), not the HTTP
                # response's: httpx closes that itself in the middle of reading the body.
                observe_close(result, _BodyRecorder(call, api, result.http_response))
        else:
            call.succeed_with(result, api.outcome)
    except Exception:
        logger.warning("voker: failed to record an OpenAI response (ignored)", exc_info=True)
        call.succeed(output=None)
    return result


def _settle_parsed(call: LLMCall, parsed: Any, api: Api, hide_usage_chunk: bool) -> None:
    if isinstance(parsed, (Stream, AsyncStream)):
        _observe(parsed, call, api, hide_usage_chunk)
    else:
        call.succeed_with(parsed, api.outcome)


def _observe(stream: Any, call: LLMCall, api: Api, hide_usage_chunk: bool) -> None:
    if api is CHAT:
        recorder = ChatStreamRecorder(call, hide_usage_chunk=hide_usage_chunk)
        if hide_usage_chunk:
            recorder.take_usage_event(stream)
        observe_stream(stream, recorder)
    else:
        observe_stream(stream, api.stream_recorder(call))


def merge_named(
    kwargs: dict[str, Any],
    name: str,
    value: Any,
    voker_agent: str | None,
    voker_session: str | None,
    voker_agent_version: str | None,
    voker_person: str | None,
    voker_properties: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Put the explicitly named parameters of ``parse``/``stream`` back among ``kwargs``."""
    if not isinstance(value, Omit):
        kwargs[name] = value
    for key, given in (
        ("voker_agent", voker_agent),
        ("voker_session", voker_session),
        ("voker_agent_version", voker_agent_version),
        ("voker_person", voker_person),
        ("voker_properties", voker_properties),
    ):
        if given is not None:
            kwargs[key] = given
    return kwargs


async def settle_async(call: LLMCall, result: R, api: Api, hide: bool) -> R:
    parsed = None
    if isinstance(result, AsyncAPIResponse) and getattr(result, "_is_sse_stream", False):
        try:
            parsed = await result.parse()  # builds the AsyncStream (cached); reads nothing
        except Exception:
            parsed = None
    return settle(call, result, api, hide_usage_chunk=hide, parsed=parsed)
