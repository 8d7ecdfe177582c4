"""The steps of one wrapped OpenAI call, shared by the sync and async resources.

A wrapped method does::

    call, send, usage = begin(self, CHAT, kwargs)       # TypeError here if no session/agent
    result = call.invoke(super().create, send, SDK_REQUEST)   # async: await call.ainvoke(...)
    return settle(call, result, CHAT)

(a streamed chat whose usage ``begin`` asked for goes through ``usage.fallback`` and tells
``settle`` to hide the usage chunk: see :class:`UsageRequest`).

``settle`` records a returned response, or attaches a stream recorder to a returned stream, and
always hands back the provider's object unchanged. It also understands the
``with_raw_response`` / ``with_streaming_response`` wrappers, which call the same methods: a raw
response whose body is still unread (``with_streaming_response``, a ``with_raw_response``
stream) is left to the caller and recorded from what the caller reads of it
(:func:`~voker_core.ai._streams.observe_body`).

``.stream()`` helpers make their request later (when the stream manager is entered) through our
own ``create``. The call is begun in ``.stream()`` (so a missing session raises at once) and
carried to that ``create`` inside ``extra_headers`` as a :class:`PendingCall`, which ``create``
removes before anything reaches the network.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple, TypeVar

import openai
from openai import AsyncStream, Omit, Stream
from openai._legacy_response import LegacyAPIResponse
from openai._response import BaseAPIResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent

from voker_core.ai._openai._translate import (
    ChatBodyRecorder,
    ChatStreamRecorder,
    ResponsesBodyRecorder,
    ResponsesStreamRecorder,
    body_outcome,
    chat_outcome,
    responses_outcome,
)
from voker_core.ai._recorder import LLMCall, Outcome, stainless_request_code
from voker_core.ai._streams import (
    BodyRecorder,
    StreamRecorder,
    _recorder_of,
    observe_body,
    observe_stream,
)

__all__ = [
    "CHAT",
    "PENDING_HEADER",
    "RESPONSES",
    "SDK_REQUEST",
    "Api",
    "PendingCall",
    "StreamUsage",
    "UsageRequest",
    "begin",
    "begin_pending",
    "keeping_completion",
    "keeping_completion_async",
    "merge_named",
    "settle",
    "settle_async",
    "watch_helper_errors",
]

logger = logging.getLogger("voker")

R = TypeVar("R")
M = TypeVar("M")

PENDING_HEADER = "x-voker-pending-call"
# Set by the SDK's with_raw_response / with_streaming_response wrappers.
_RAW_HEADER = "X-Stainless-Raw-Response"
_UNSET = (openai.NotGiven, openai.Omit)
_ABSENT: Any = object()  # an argument the caller did not give
# Every request the SDK makes goes through its client's request(): an exception that did not
# was the SDK refusing the arguments before any request (see LLMCall._failed).
SDK_REQUEST = stainless_request_code(openai._base_client)


class Api(NamedTuple):
    """How one OpenAI API's objects are read."""

    name: str
    outcome: Callable[[Any], Outcome]
    stream_recorder: Callable[..., StreamRecorder]
    model_class: type[Any]
    # A raw body the caller reads itself: its recorder, and the type of a stream's items.
    body_recorder: Callable[..., BodyRecorder]
    event_type: Any


CHAT = Api(
    "openai-chat-completions",
    chat_outcome,
    ChatStreamRecorder,
    ChatCompletion,
    ChatBodyRecorder,
    ChatCompletionChunk,
)
RESPONSES = Api(
    "openai-responses",
    responses_outcome,
    ResponsesStreamRecorder,
    Response,
    ResponsesBodyRecorder,
    ResponseStreamEvent,
)


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
) -> tuple[LLMCall, dict[str, Any], UsageRequest | None]:
    """Begin recording (or adopt the call a ``.stream()`` began).

    Returns the call, the keyword arguments to send to OpenAI (never the caller's dict), and
    the stream usage the wrapper asked for on the caller's behalf, if it did (the extra chunk
    is then hidden). ``request_usage``: add ``stream_options.include_usage`` to a streaming
    call that does not say (Chat Completions only report usage in streams when asked).
    """
    client = resource._client
    headers = kwargs.get("extra_headers")
    pending = headers.get(PENDING_HEADER) if headers else None
    if isinstance(pending, PendingCall):
        call = pending.call
        call.request_started()  # begun at .stream(); the request is made now, on entry
        send = dict(kwargs)
        send["extra_headers"] = {k: v for k, v in headers.items() if k != PENDING_HEADER}  # type: ignore[union-attr]
    else:
        call = LLMCall.begin(
            api=api.name,
            provider=getattr(client, "_voker_provider", "openai"),
            kwargs=kwargs,
            voker_client=getattr(client, "_voker_client", None),
            stream=stream,
        )
        send = call.provider_kwargs
    # Not for raw responses: a caller reading the raw body would see the extra chunk.
    if request_usage and send.get("stream") is True and not (headers and _RAW_HEADER in headers):
        return call, send, _ask_for_usage(client, send)
    return call, send, None


def _ask_for_usage(client: Any, send: dict[str, Any]) -> UsageRequest | None:
    """Add ``stream_options.include_usage`` to ``send`` (a streamed chat; our own dict) unless
    the caller said, or the client's server is known to refuse it; what was added, if any."""
    support = getattr(client, "_voker_stream_usage", None)
    if support is None:  # not one of our clients: ask, remembering nothing
        support = StreamUsage(ask=True)
    elif not support.ask:
        return None
    options = send.get("stream_options")
    extra_body = send.get("extra_body")
    if (options is None or isinstance(options, _UNSET)) and (
        extra_body is None
        or (isinstance(extra_body, Mapping) and "stream_options" not in extra_body)
    ):
        # As extra_body: merged into the JSON as it is, where the typed parameter would
        # cost the SDK's per-call type-driven transform of it.
        request = UsageRequest(support, "extra_body", send.get("extra_body", _ABSENT))
        send["extra_body"] = {**(extra_body or {}), "stream_options": {"include_usage": True}}
        return request
    if isinstance(options, Mapping) and "include_usage" not in options:
        request = UsageRequest(support, "stream_options", options)
        send["stream_options"] = {**options, "include_usage": True}
        return request
    return None


class StreamUsage:
    """Whether to ask a client's server for streamed chat usage on the caller's behalf.

    Held by each of our clients, and shared with its ``copy()``/``with_options()`` children
    that talk to the same server: a refusal learnt by one (see :class:`UsageRequest`) holds
    for all of them, so a server that refuses is sent the failing request once, not per call.
    """

    __slots__ = ("ask",)

    def __init__(self, *, ask: bool) -> None:
        self.ask = ask


class UsageRequest:
    """The ``stream_options.include_usage`` :func:`begin` added to one streamed chat call, and
    how to take it back.

    Some servers refuse the parameter, answering 400 with a message naming it: Azure API
    versions before 2024-09-01-preview ("Unrecognized request argument supplied:
    stream_options"), older vLLM and gateways. The caller, who did not send it, must get what
    the plain SDK would have given: :meth:`fallback` makes the request once more with the
    caller's own arguments (recorded without usage, as the plain call has none) and the client
    stops asking. Only the refused request is repeated, and the first answer is not recorded.
    """

    __slots__ = ("_given", "_key", "_support", "asked")

    def __init__(self, support: StreamUsage, key: str, given: Any) -> None:
        self._support = support
        self._key = key  # the argument we changed: "extra_body" or "stream_options"
        self._given = given  # the caller's value of it (_ABSENT: not given)
        self.asked = True  # whether the request that answered carried our addition

    def _withdrawn(
        self, exc: openai.BadRequestError, sent: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The caller's own arguments to send again if ``exc`` is the server refusing our
        ``stream_options`` (the client then stops asking); None for any other error."""
        if "stream_options" not in str(exc.message):
            return None
        if self._support.ask:
            self._support.ask = False
            logger.info(
                "voker: the server refused stream_options (%s); streamed chat completions on "
                "this client are no longer asked for usage, and are recorded without it",
                exc.message,
            )
        self.asked = False
        retry = dict(sent)
        if self._given is _ABSENT:
            del retry[self._key]
        else:
            retry[self._key] = self._given
        return retry

    def fallback(self, method: Callable[..., R]) -> Callable[..., R]:
        """``method`` (the SDK's ``create``) for :meth:`LLMCall.invoke`, repeated without our
        addition if the server refuses it."""

        @functools.wraps(method)  # LLMCall reads its signature after a TypeError
        def create(**kwargs: Any) -> R:
            try:
                return method(**kwargs)
            except openai.BadRequestError as exc:
                retry = self._withdrawn(exc, kwargs)
                if retry is None:
                    raise
            # Outside the except block: an error of the retry is the caller's alone, as the
            # plain SDK would raise it (no chained context of ours).
            return method(**retry)

        return create

    def afallback(self, method: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
        """The async twin of :meth:`fallback`."""

        @functools.wraps(method)
        async def create(**kwargs: Any) -> R:
            try:
                return await method(**kwargs)
            except openai.BadRequestError as exc:
                retry = self._withdrawn(exc, kwargs)
                if retry is None:
                    raise
            return await method(**retry)

        return create


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


def _fail_with_completion(call: LLMCall, api: Api, exc: BaseException) -> None:
    """Record ``exc`` with the response it carries, if any: the SDK's parse helpers raise
    after the model answered (``LengthFinishReasonError``... carry ``completion``), and the
    tokens were spent all the same. Without one, :meth:`LLMCall.invoke` records the error."""
    try:
        completion = getattr(exc, "completion", None)
        if isinstance(completion, api.model_class):
            call.fail(exc, output=completion, translate=api.outcome)
    except Exception:
        logger.warning("voker: failed to record an OpenAI error (ignored)", exc_info=True)


def keeping_completion(call: LLMCall, api: Api, method: Callable[..., R]) -> Callable[..., R]:
    """``method`` (a ``parse``) for :meth:`LLMCall.invoke`, recording the response an error
    carries (see :func:`_fail_with_completion`); the error reaches the caller unchanged."""

    @functools.wraps(method)  # LLMCall reads its signature after a TypeError
    def parse(**kwargs: Any) -> R:
        try:
            return method(**kwargs)
        except Exception as exc:
            _fail_with_completion(call, api, exc)
            raise

    return parse


def keeping_completion_async(
    call: LLMCall, api: Api, method: Callable[..., Awaitable[R]]
) -> Callable[..., Awaitable[R]]:
    """The async twin of :func:`keeping_completion`."""

    @functools.wraps(method)
    async def parse(**kwargs: Any) -> R:
        try:
            return await method(**kwargs)
        except Exception as exc:
            _fail_with_completion(call, api, exc)
            raise

    return parse


def settle(
    call: LLMCall,
    result: R,
    api: Api,
    *,
    hide_usage_chunk: bool = False,
    is_async: bool = False,
) -> R:
    """Record ``result`` (or watch it, for streams and unread raw bodies); return it unchanged.
    Never raises. ``is_async``: ``result`` came from an async client."""
    try:
        if isinstance(result, api.model_class):  # the usual case first: a parsed response
            call.end(result, api.outcome)
        elif isinstance(result, (Stream, AsyncStream)):
            _observe(result, call, api, hide_usage_chunk)
        elif isinstance(result, (LegacyAPIResponse, BaseAPIResponse)):
            _settle_raw(call, result, api, hide_usage_chunk, is_async)
        else:
            call.succeed_with(result, api.outcome)
    except Exception:
        logger.warning("voker: failed to record an OpenAI response (ignored)", exc_info=True)
        call.succeed(output=None)
    return result


def _settle_raw(
    call: LLMCall,
    response: LegacyAPIResponse[Any] | BaseAPIResponse[Any],
    api: Api,
    hide_usage_chunk: bool,
    is_async: bool,
) -> None:
    """Record a raw response: from what the caller reads of its body if that is still unread
    (``with_streaming_response``, a ``with_raw_response`` stream), else from its parsed body."""
    if _watch_body(call, api, response, is_async=is_async):
        return
    translate = functools.partial(body_outcome, body_type=api.model_class, translate=api.outcome)
    if not isinstance(response, LegacyAPIResponse):  # read already (not by the SDKs we know)
        call.succeed_with(_read_body(response), translate)
        return
    # with_raw_response: the body is read already; parse() is cached, so the caller's own
    # parse() returns this very object.
    try:
        parsed = response.parse()
    except Exception as exc:
        # A parse helper's error (length limit, invalid JSON...): the caller's own parse()
        # raises it too. The response is recorded from its body.
        call.fail(exc, output=_read_body(response), translate=translate)
    else:
        _settle_parsed(call, parsed, api, hide_usage_chunk)


def _read_body(response: LegacyAPIResponse[Any] | BaseAPIResponse[Any]) -> bytes | None:
    """The body of a raw response whose body has been read (None if it cannot be had)."""
    try:
        return response.http_response.content
    except Exception:
        return None


def _watch_body(
    call: LLMCall,
    api: Api,
    response: LegacyAPIResponse[Any] | BaseAPIResponse[Any],
    *,
    is_async: bool,
) -> bool:
    """Whether ``response``'s body is still unread; it is then recorded from what the caller
    reads of it, however it reads it (see :class:`~voker_core.ai._streams.BodyRecorder`).

    Reading it here (even ``parse()``, which builds a stream but reads a response's body)
    would take the body from a caller who reads it raw (``iter_raw()`` then raises
    ``StreamConsumed``), and read it before the caller asked; and a stream parsed here would
    see nothing of a caller reading its lines.
    """
    try:
        http_response = response.http_response
        if http_response.is_stream_consumed:
            return False
        # Whether the SDK makes a stream of it: APIResponse's flag, LegacyAPIResponse's.
        sse = getattr(response, "_is_sse_stream", None)
        if sse is None:
            sse = getattr(response, "_stream", call.stream)
        body_type = api.event_type if sse else api.model_class
        recorder = api.body_recorder(call, http_response, body_type, sse=bool(sse))
        observe_body(http_response, recorder, is_async=is_async)
    except Exception:
        logger.warning("voker: failed to observe a raw OpenAI response (ignored)", exc_info=True)
        call.succeed(output=None)  # the body is the caller's: not read to record it
    return True


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


_helper_classes: dict[type, type] = {}
_helper_lock = threading.Lock()


def watch_helper_errors(manager: M) -> M:
    """Have the helper stream ``manager`` opens (``ChatCompletionStream``, ``ResponseStream``...)
    report its own errors; returns ``manager``, whose class becomes a cached subclass (same
    name) with the same behaviour.

    The helpers raise on their own while reading a stream that did not fail (Chat's
    ``LengthFinishReasonError`` / ``ContentFilterFinishReasonError`` for a parsed format, a
    format's validation error...). The raw stream we observe never sees that exception: it is
    only dropped, which would record a success. So the helper's iterator is wrapped to record
    the exception the caller gets, with the output read so far (see :func:`_wrap_helper`).
    """
    try:
        manager.__class__ = _helper_class(type(manager))
    except Exception:
        logger.warning("voker: failed to observe a stream helper (ignored)", exc_info=True)
    return manager


def _helper_class(base: type) -> type:
    cls = _helper_classes.get(base)
    if cls is not None:
        return cls
    namespace: dict[str, Any] = {
        "__module__": base.__module__,
        "__qualname__": base.__qualname__,
        "__doc__": base.__doc__,
    }
    if hasattr(base, "__aenter__"):
        base_aenter = base.__aenter__

        async def __aenter__(self: Any) -> Any:
            stream = await base_aenter(self)
            _wrap_helper(stream)
            return stream

        namespace["__aenter__"] = __aenter__
    else:
        base_enter = base.__enter__  # type: ignore[attr-defined]

        def __enter__(self: Any) -> Any:
            stream = base_enter(self)
            _wrap_helper(stream)
            return stream

        namespace["__enter__"] = __enter__
    with _helper_lock:
        cls = _helper_classes.get(base)
        if cls is None:
            cls = _helper_classes[base] = type(base.__name__, (base,), namespace)
    return cls


def _wrap_helper(stream: Any) -> None:
    """Wrap the helper's per-item handler (its state's ``handle_chunk``/``handle_event``, sync
    in both the sync and async helpers): the helpers raise there.

    Not the helper's iterator: by the time its exception leaves that, the raw stream's loop
    over our observed stream has been unwound, which ends (records) the call as a success.
    """
    try:
        recorder = _recorder_of(stream._raw_stream)
        state = stream._state
        if recorder is None:
            return
        for name in ("handle_chunk", "handle_event"):
            handle = getattr(state, name, None)
            if callable(handle):
                setattr(state, name, _recording_errors(handle, recorder))
    except Exception:
        logger.warning("voker: failed to observe a stream helper (ignored)", exc_info=True)


def _recording_errors(handle: Callable[[Any], R], recorder: StreamRecorder) -> Callable[[Any], R]:
    def handle_item(item: Any) -> R:
        try:
            return handle(item)
        except Exception as exc:
            _fail_stream(recorder, exc)
            raise

    return handle_item


def _fail_stream(recorder: StreamRecorder, exc: BaseException) -> None:
    """Record the helper's ``exc`` (a no-op when the raw stream failed first: recorded)."""
    try:
        recorder.fail(exc)
    except Exception:
        logger.warning("voker: failed to record a stream (ignored)", exc_info=True)


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
    """:func:`settle` for an async client's ``result``."""
    return settle(call, result, api, hide_usage_chunk=hide, is_async=True)
