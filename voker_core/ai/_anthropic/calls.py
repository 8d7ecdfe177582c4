"""The recording around one Anthropic Messages call; shared by sync and async, messages and beta.

Each wrapped method does the same four steps, which differ between sync and async only by an
``await``:

1. :func:`start` — ``LLMCall.begin`` (splits off ``voker_*``, raises ``TypeError`` for a missing
   agent/session before any request), then the person is resolved on the caller's side;
2. the provider's own method runs with the remaining keyword arguments;
3. an exception is recorded with :meth:`LLMCall.fail` and re-raised unchanged;
4. :func:`settle` records the result — a ``Message`` at once, a ``Stream`` when it ends — and
   returns the provider's object untouched. A raw response (``with_raw_response``,
   ``with_streaming_response``) goes through :func:`settle_raw`/:func:`asettle_raw` instead.

``messages.stream()`` returns a lazy manager whose request is made on ``with``/``async with``;
:func:`hook_manager` wraps that request so the stream it opens is recorded the same way.
"""

from __future__ import annotations

import logging
import uuid
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from anthropic import APIResponse, AsyncAPIResponse, AsyncStream, Stream

from voker_core.ai._anthropic.translate import (
    MessageBodyRecorder,
    MessageStreamRecorder,
    message_outcome,
)
from voker_core.ai._recorder import LLMCall, split_voker_kwargs
from voker_core.ai._streams import observe_body, observe_stream

__all__ = [
    "BETA_MESSAGES",
    "HELPER_KEYWORDS_HEADER",
    "MESSAGES",
    "Surface",
    "asettle_raw",
    "hook_manager",
    "settle",
    "settle_raw",
    "start",
    "with_helper_keywords",
]

logger = logging.getLogger("voker")


@dataclass(frozen=True)
class Surface:
    """Which Messages API a resource serves."""

    api: str
    beta: bool


MESSAGES = Surface(api="anthropic-messages", beta=False)
BETA_MESSAGES = Surface(api="anthropic-beta-messages", beta=True)


# The header that carries a tool runner's ``voker_*`` keywords to each of its requests.
HELPER_KEYWORDS_HEADER = "x-voker-keywords"


class HelperKeywords:
    """The ``voker_*`` keywords given to an SDK helper that makes its own requests through our
    ``create`` (``beta.messages.tool_runner``, ``beta.messages.thread``).

    The helper passes its ``extra_headers`` to every request it makes, but rebuilds them as
    plain strings; so the header carries an opaque token, which :func:`start` looks up here and
    removes before anything is sent. Kept alive by the helper object it belongs to (tokens are
    held weakly), so nothing outlives the runner.
    """

    __slots__ = ("__weakref__", "keywords", "token")

    _live: weakref.WeakValueDictionary[str, HelperKeywords] = weakref.WeakValueDictionary()

    def __init__(self, keywords: dict[str, Any]) -> None:
        self.keywords = keywords
        self.token = uuid.uuid4().hex
        HelperKeywords._live[self.token] = self

    @classmethod
    def find(cls, token: Any) -> HelperKeywords | None:
        return cls._live.get(token) if isinstance(token, str) else None


def with_helper_keywords(
    kwargs: dict[str, Any], voker: dict[str, Any]
) -> tuple[dict[str, Any], HelperKeywords | None]:
    """``kwargs`` (a new dict) with ``voker``'s token in its ``extra_headers``, and the holder
    the caller must keep alive for as long as the helper runs (``None``: nothing to carry)."""
    if not voker:
        return kwargs, None
    holder = HelperKeywords(voker)
    headers = kwargs.get("extra_headers")
    return {
        **kwargs,
        "extra_headers": {
            **(headers if isinstance(headers, Mapping) else {}),
            HELPER_KEYWORDS_HEADER: holder.token,
        },
    }, holder


def _take_helper_keywords(
    kwargs: Mapping[str, Any],
) -> tuple[Mapping[str, Any], dict[str, Any] | None]:
    """``kwargs`` without a helper's keywords header (new dicts if it was there), and them."""
    headers = kwargs.get("extra_headers")
    if not headers or not isinstance(headers, Mapping) or HELPER_KEYWORDS_HEADER not in headers:
        return kwargs, None
    holder = HelperKeywords.find(headers[HELPER_KEYWORDS_HEADER])
    rest = {k: v for k, v in headers.items() if k != HELPER_KEYWORDS_HEADER}
    return {**kwargs, "extra_headers": rest}, holder.keywords if holder is not None else None


def start(
    resource: Any, surface: Surface, kwargs: Mapping[str, Any], *, stream: bool | None = None
) -> tuple[LLMCall | None, dict[str, Any]]:
    """Begin recording; returns the call (None if the recorder itself failed) and the keyword
    arguments for the provider. ``TypeError``/``ValueError`` for bad ``voker_*`` arguments
    propagate: they are the caller's to fix, and no request has been made."""
    kwargs, helper_keywords = _take_helper_keywords(kwargs)
    try:
        call = LLMCall.begin(
            api=surface.api,
            provider="anthropic",
            kwargs=kwargs,
            voker_client=getattr(resource._client, "_voker_client", None),
            stream=stream,
            defaults=helper_keywords,
        )
    except (TypeError, ValueError):
        raise
    except Exception:
        logger.warning("voker: failed to start recording an LLM call (ignored)", exc_info=True)
        return None, split_voker_kwargs(kwargs)[0]
    return call, call.provider_kwargs


def _attach_stream(call: LLMCall, surface: Surface, stream: Any, output_format: Any) -> None:
    recorder = MessageStreamRecorder(
        call, beta=surface.beta, stream=stream, output_format=output_format
    )
    observe_stream(stream, recorder)


def settle(call: LLMCall, surface: Surface, value: Any) -> None:
    """Record the value a call returned: a message now, a stream when it finishes.

    For a raw response whose body has been read, pass its parsed body (see :func:`settle_raw`).
    """
    try:
        # The usual case first: a (Beta)Message, parsed or not (raw responses and streams
        # have no ``usage``).
        if hasattr(value, "usage") and hasattr(value, "content"):
            call.end(value, message_outcome)
            return
        if isinstance(value, (APIResponse, AsyncAPIResponse)):  # its body could not be parsed
            call.succeed(output=None)
            return
        if isinstance(value, (Stream, AsyncStream)):
            _attach_stream(call, surface, value, None)
            return
        call.succeed(output=value)
    except Exception:
        logger.warning("voker: failed to record an LLM call (ignored)", exc_info=True)


def settle_raw(call: LLMCall, surface: Surface, response: APIResponse[Any]) -> None:
    """Record a sync raw response: from the body the caller reads, if it is not read yet (see
    :func:`_watch_body`); else from its parsed body (cached by the SDK, so the caller's own
    ``parse()`` returns the same object)."""
    if _watch_body(call, surface, response, is_async=False):
        return
    try:
        parsed: Any = response.parse()
    except Exception:
        logger.debug("voker: could not parse a raw Anthropic response", exc_info=True)
        parsed = response
    settle(call, surface, parsed)


async def asettle_raw(call: LLMCall, surface: Surface, response: AsyncAPIResponse[Any]) -> None:
    """The async twin of :func:`settle_raw`."""
    if _watch_body(call, surface, response, is_async=True):
        return
    try:
        parsed: Any = await response.parse()
    except Exception:
        logger.debug("voker: could not parse a raw Anthropic response", exc_info=True)
        parsed = response
    settle(call, surface, parsed)


def _watch_body(
    call: LLMCall,
    surface: Surface,
    response: APIResponse[Any] | AsyncAPIResponse[Any],
    *,
    is_async: bool,
) -> bool:
    """Whether ``response``'s body is still unread (``with_streaming_response``, or a raw
    response of a stream); it is then recorded from what the caller reads of it.

    Reading it here (even ``parse()``, which builds a stream but reads a message's body) would
    take the body from a caller who reads it raw (``iter_raw()`` then raises
    ``StreamConsumed``), and read it before the caller asked; and a stream parsed here would
    see nothing of a caller reading its lines.
    """
    try:
        http_response = response.http_response
        if http_response.is_stream_consumed:
            return False
        recorder = MessageBodyRecorder(call, http_response, beta=surface.beta, sse=call.stream)
        observe_body(http_response, recorder, is_async=is_async)
    except Exception:
        logger.warning("voker: failed to observe a raw Anthropic response (ignored)", exc_info=True)
        call.succeed(output=None)  # the body is the caller's: not read to record it
    return True


def _request_attribute(manager: Any) -> str | None:
    # The managers keep the request in a name-mangled attribute (``_XStreamManager__api_request``).
    for name in vars(manager):
        if isinstance(name, str) and name.endswith("__api_request"):
            return name
    return None


def hook_manager(
    manager: Any, call: LLMCall, surface: Surface, output_format: Any, *, is_async: bool
) -> None:
    """Make the request a (Beta)(Async)MessageStreamManager sends on entry recorded."""
    try:
        name = _request_attribute(manager)
        if name is None:
            logger.warning("voker: unrecognised Anthropic stream manager %r; not recorded", manager)
            return
        original = getattr(manager, name)
        if is_async:
            setattr(manager, name, _async_request(original, call, surface, output_format))
        else:
            setattr(manager, name, _sync_request(original, call, surface, output_format))
    except Exception:
        logger.warning("voker: failed to record an LLM call (ignored)", exc_info=True)


def _sync_request(
    original: Callable[[], Any], call: LLMCall, surface: Surface, output_format: Any
) -> Callable[[], Any]:
    def request() -> Any:
        call.request_started()  # begun at .stream(); the request is made now, on entry
        try:
            stream = original()
        except BaseException as exc:
            call.fail(exc)
            raise
        _attach_stream_guarded(call, surface, stream, output_format)
        return stream

    return request


async def _async_request(
    original: Awaitable[Any], call: LLMCall, surface: Surface, output_format: Any
) -> Any:
    try:
        await call.aresolve()
    except BaseException:
        close = getattr(original, "close", None)
        if close is not None:
            close()  # a coroutine never awaited: closed, or Python warns about it
        raise
    call.request_started()
    try:
        stream = await original
    except BaseException as exc:
        call.fail(exc)
        raise
    _attach_stream_guarded(call, surface, stream, output_format)
    return stream


def _attach_stream_guarded(
    call: LLMCall, surface: Surface, stream: Any, output_format: Any
) -> None:
    try:
        _attach_stream(call, surface, stream, output_format)
    except Exception:
        logger.warning("voker: failed to record an LLM call (ignored)", exc_info=True)
