"""``client.messages`` and ``client.beta.messages`` of the wrapped Anthropic clients.

Subclasses of the SDK's resources, so everything not overridden here (``count_tokens``,
``batches``, ``with_raw_response``, ...) is the provider's own. ``create``, ``stream`` and
``parse`` accept the ``voker_*`` keywords and record one ``llm`` event per call; they return
exactly what the SDK returns (``Message``, ``Stream``, ``MessageStreamManager``, ...). The beta
helpers that send their own requests through ``create`` - ``tool_runner`` and ``thread`` - take
the keywords too and carry them to each of those requests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from anthropic import APIResponse, AsyncAPIResponse, Omit, _base_client, omit
from anthropic._compat import cached_property
from anthropic.lib._parse._response import ResponseFormatT
from anthropic.resources.beta import AsyncBeta, Beta
from anthropic.resources.beta.messages import AsyncMessages as AsyncBetaMessages
from anthropic.resources.beta.messages import Messages as BetaMessages
from anthropic.resources.messages import AsyncMessages, Messages
from typing_extensions import Unpack

from voker_core.ai._anthropic._typing import (
    BetaCreateNonStreaming,
    BetaCreateStreaming,
    CreateNonStreaming,
    CreateStreaming,
)
from voker_core.ai._anthropic.calls import (
    BETA_MESSAGES,
    HELPER_KEYWORDS_HEADER,
    MESSAGES,
    Surface,
    asettle_raw,
    hook_manager,
    settle,
    settle_raw,
    start,
    with_helper_keywords,
)
from voker_core.ai._recorder import stainless_request_code

if TYPE_CHECKING:
    from anthropic import AsyncStream, Stream
    from anthropic.lib.streaming import (
        AsyncMessageStreamManager,
        BetaAsyncMessageStreamManager,
        BetaMessageStreamManager,
        MessageStreamManager,
    )
    from anthropic.lib.threads import BetaAsyncMessageThread, BetaMessageThread
    from anthropic.lib.tools import (
        BetaAsyncStreamingToolRunner,
        BetaAsyncToolRunner,
        BetaStreamingToolRunner,
        BetaToolRunner,
    )
    from anthropic.types import Message, RawMessageStreamEvent
    from anthropic.types.beta import BetaMessage, BetaRawMessageStreamEvent
    from anthropic.types.beta.parsed_beta_message import ParsedBetaMessage
    from anthropic.types.parsed_message import ParsedMessage

R = TypeVar("R")

# Every request the SDK makes goes through these: an error raised before them is the SDK refusing
# the call's arguments, not a call (see LLMCall.invoke).
SDK_REQUEST = stainless_request_code(_base_client)

__all__ = [
    "RecordedAsyncBeta",
    "RecordedAsyncBetaMessages",
    "RecordedAsyncMessages",
    "RecordedBeta",
    "RecordedBetaMessages",
    "RecordedMessages",
]


# -- the shared call paths (sync and async differ only by the awaits) ---------------------------


def _create(resource: Any, surface: Surface, method: Callable[..., R], kwargs: dict[str, Any]) -> R:
    call, provider_kwargs = start(resource, surface, kwargs)
    if call is None:
        return method(**provider_kwargs)
    result = call.invoke(method, provider_kwargs, SDK_REQUEST)
    if isinstance(result, APIResponse):  # with_raw_response / with_streaming_response
        settle_raw(call, surface, result)
    else:
        settle(call, surface, result)
    return result


async def _acreate(
    resource: Any, surface: Surface, method: Callable[..., Awaitable[R]], kwargs: dict[str, Any]
) -> R:
    call, provider_kwargs = start(resource, surface, kwargs)
    if call is None:
        return await method(**provider_kwargs)
    result = await call.ainvoke(method, provider_kwargs, SDK_REQUEST)
    if isinstance(result, AsyncAPIResponse):  # with_raw_response / with_streaming_response
        await asettle_raw(call, surface, result)
    else:
        settle(call, surface, result)
    return result


def _stream(
    resource: Any,
    surface: Surface,
    method: Callable[..., R],
    kwargs: dict[str, Any],
    *,
    is_async: bool,
) -> R:
    call, provider_kwargs = start(resource, surface, kwargs, stream=True)
    manager = method(**provider_kwargs)  # lazy: the request is made on (async) with
    if call is not None:
        if not is_async:
            call.resolve()  # the async request resolves them without blocking the loop
        output_format = provider_kwargs.get("output_format")
        hook_manager(manager, call, surface, output_format, is_async=is_async)
    return manager


# -- messages -----------------------------------------------------------------------------------


class RecordedMessages(Messages):
    """``client.messages``: ``create`` (incl. ``stream=True``), ``stream`` and ``parse`` record
    one ``llm`` event each. Extra keywords: ``voker_agent``, ``voker_session`` (required unless
    the current ``voker_core.context`` gives them), ``voker_agent_version``, ``voker_person``,
    ``voker_properties``."""

    @overload  # type: ignore[override]
    def create(self, **kwargs: Unpack[CreateNonStreaming]) -> Message: ...
    @overload
    def create(self, **kwargs: Unpack[CreateStreaming]) -> Stream[RawMessageStreamEvent]: ...
    def create(self, **kwargs: Any) -> Message | Stream[RawMessageStreamEvent]:
        """``messages.create``, recorded as one ``llm`` event (a stream: when it finishes).

        Takes the SDK's arguments plus ``voker_agent``, ``voker_session`` (both required unless
        set by ``voker_core.context``), ``voker_agent_version``, ``voker_person`` and
        ``voker_properties``. Returns the SDK's ``Message`` or ``Stream``.
        """
        return _create(self, MESSAGES, super().create, kwargs)

    def stream(
        self,
        *,
        output_format: type[ResponseFormatT] | Omit | None = omit,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> MessageStreamManager[ResponseFormatT]:
        voker = _voker(
            voker_agent, voker_session, voker_agent_version, voker_person, voker_properties
        )
        return _stream(
            self,
            MESSAGES,
            super().stream,
            _with_format(kwargs, output_format, voker),
            is_async=False,
        )

    def parse(
        self,
        *,
        output_format: type[ResponseFormatT] | Omit | None = omit,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> ParsedMessage[ResponseFormatT]:
        voker = _voker(
            voker_agent, voker_session, voker_agent_version, voker_person, voker_properties
        )
        return _create(self, MESSAGES, super().parse, _with_format(kwargs, output_format, voker))


class RecordedAsyncMessages(AsyncMessages):
    """``client.messages`` of ``AsyncAnthropic``; see :class:`RecordedMessages`."""

    @overload  # type: ignore[override]
    async def create(self, **kwargs: Unpack[CreateNonStreaming]) -> Message: ...
    @overload
    async def create(
        self, **kwargs: Unpack[CreateStreaming]
    ) -> AsyncStream[RawMessageStreamEvent]: ...
    async def create(self, **kwargs: Any) -> Message | AsyncStream[RawMessageStreamEvent]:
        """``messages.create``, recorded as one ``llm`` event (see the sync twin)."""
        return await _acreate(self, MESSAGES, super().create, kwargs)

    def stream(
        self,
        *,
        output_format: type[ResponseFormatT] | Omit | None = omit,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> AsyncMessageStreamManager[ResponseFormatT]:
        voker = _voker(
            voker_agent, voker_session, voker_agent_version, voker_person, voker_properties
        )
        return _stream(
            self,
            MESSAGES,
            super().stream,
            _with_format(kwargs, output_format, voker),
            is_async=True,
        )

    async def parse(
        self,
        *,
        output_format: type[ResponseFormatT] | Omit | None = omit,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> ParsedMessage[ResponseFormatT]:
        voker = _voker(
            voker_agent, voker_session, voker_agent_version, voker_person, voker_properties
        )
        return await _acreate(
            self, MESSAGES, super().parse, _with_format(kwargs, output_format, voker)
        )


# -- beta.messages ------------------------------------------------------------------------------


class RecordedBetaMessages(BetaMessages):
    """``client.beta.messages``; records with ``api="anthropic-beta-messages"``."""

    @overload  # type: ignore[override]
    def create(self, **kwargs: Unpack[BetaCreateNonStreaming]) -> BetaMessage: ...
    @overload
    def create(
        self, **kwargs: Unpack[BetaCreateStreaming]
    ) -> Stream[BetaRawMessageStreamEvent]: ...
    def create(self, **kwargs: Any) -> BetaMessage | Stream[BetaRawMessageStreamEvent]:
        """``beta.messages.create``, recorded as one ``llm`` event (see ``messages.create``)."""
        return _create(self, BETA_MESSAGES, super().create, kwargs)

    def stream(
        self,
        *,
        output_format: type[ResponseFormatT] | Omit | None = omit,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> BetaMessageStreamManager[ResponseFormatT]:
        voker = _voker(
            voker_agent, voker_session, voker_agent_version, voker_person, voker_properties
        )
        return _stream(
            self,
            BETA_MESSAGES,
            super().stream,
            _with_format(kwargs, output_format, voker),
            is_async=False,
        )

    def parse(
        self,
        *,
        output_format: type[ResponseFormatT] | Omit | None = omit,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> ParsedBetaMessage[ResponseFormatT]:
        voker = _voker(
            voker_agent, voker_session, voker_agent_version, voker_person, voker_properties
        )
        return _create(
            self, BETA_MESSAGES, super().parse, _with_format(kwargs, output_format, voker)
        )

    def tool_runner(  # type: ignore[override]
        self,
        *,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> BetaToolRunner[Any] | BetaStreamingToolRunner[Any]:
        """The SDK's tool runner; each request it makes is recorded as one ``llm`` event with
        these ``voker_*`` keywords (else the context's)."""
        voker = _voker(
            voker_agent, voker_session, voker_agent_version, voker_person, voker_properties
        )
        return _helper(super().tool_runner, kwargs, voker)

    def thread(
        self,
        *,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> BetaMessageThread[Any]:
        """The SDK's message thread; each request it sends (a turn, its tool runner's) is
        recorded as one ``llm`` event with these ``voker_*`` keywords (else the context's)."""
        voker = _voker(
            voker_agent, voker_session, voker_agent_version, voker_person, voker_properties
        )
        return _thread(super().thread, kwargs, voker)


class RecordedAsyncBetaMessages(AsyncBetaMessages):
    """``client.beta.messages`` of ``AsyncAnthropic``; see :class:`RecordedBetaMessages`."""

    @overload  # type: ignore[override]
    async def create(self, **kwargs: Unpack[BetaCreateNonStreaming]) -> BetaMessage: ...
    @overload
    async def create(
        self, **kwargs: Unpack[BetaCreateStreaming]
    ) -> AsyncStream[BetaRawMessageStreamEvent]: ...
    async def create(self, **kwargs: Any) -> BetaMessage | AsyncStream[BetaRawMessageStreamEvent]:
        """``beta.messages.create``, recorded as one ``llm`` event (see ``messages.create``)."""
        return await _acreate(self, BETA_MESSAGES, super().create, kwargs)

    def stream(
        self,
        *,
        output_format: type[ResponseFormatT] | Omit | None = omit,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> BetaAsyncMessageStreamManager[ResponseFormatT]:
        voker = _voker(
            voker_agent, voker_session, voker_agent_version, voker_person, voker_properties
        )
        return _stream(
            self,
            BETA_MESSAGES,
            super().stream,
            _with_format(kwargs, output_format, voker),
            is_async=True,
        )

    async def parse(
        self,
        *,
        output_format: type[ResponseFormatT] | Omit | None = omit,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> ParsedBetaMessage[ResponseFormatT]:
        voker = _voker(
            voker_agent, voker_session, voker_agent_version, voker_person, voker_properties
        )
        return await _acreate(
            self, BETA_MESSAGES, super().parse, _with_format(kwargs, output_format, voker)
        )

    def tool_runner(  # type: ignore[override]
        self,
        *,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> BetaAsyncToolRunner[Any] | BetaAsyncStreamingToolRunner[Any]:
        """The SDK's tool runner; each request it makes is recorded as one ``llm`` event with
        these ``voker_*`` keywords (else the context's)."""
        voker = _voker(
            voker_agent, voker_session, voker_agent_version, voker_person, voker_properties
        )
        return _helper(super().tool_runner, kwargs, voker)

    def thread(
        self,
        *,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> BetaAsyncMessageThread[Any]:
        """The SDK's message thread; each request it sends is recorded as one ``llm`` event
        with these ``voker_*`` keywords (else the context's)."""
        voker = _voker(
            voker_agent, voker_session, voker_agent_version, voker_person, voker_properties
        )
        return _thread(super().thread, kwargs, voker)


class RecordedBeta(Beta):
    """``client.beta`` whose ``messages`` are recorded; every other beta resource is the SDK's."""

    @cached_property
    def messages(self) -> RecordedBetaMessages:
        return RecordedBetaMessages(self._client)


class RecordedAsyncBeta(AsyncBeta):
    """``client.beta`` of ``AsyncAnthropic``; see :class:`RecordedBeta`."""

    @cached_property
    def messages(self) -> RecordedAsyncBetaMessages:
        return RecordedAsyncBetaMessages(self._client)


def _helper(method: Callable[..., R], kwargs: dict[str, Any], voker: dict[str, Any]) -> R:
    """Make an SDK helper (a tool runner, a message thread) with ``voker`` carried to each
    request it sends (in its ``extra_headers``, which it passes to every request)."""
    send, holder = with_helper_keywords(kwargs, voker)
    helper = method(**send)
    if holder is not None:
        cast(Any, helper)._voker_keywords = holder  # the keywords live as long as the helper
    return helper


def _thread(method: Callable[..., R], kwargs: dict[str, Any], voker: dict[str, Any]) -> R:
    """Make the SDK's message thread with ``voker`` carried to each request it sends.

    A thread sends its ``extra_headers`` with every turn, but a turn's own ``extra_headers``
    (``send(..., extra_headers=...)``, ``update(extra_headers=...)``) replace them as a whole.
    The thread's state keeps the SDK's helper headers apart for that reason, and sends them
    whatever a turn gives; a ``fork()`` copies the state. So the token goes there too, and the
    keywords live as long as a state that sends it (where the state is not as expected, the
    ``extra_headers`` alone carry it).
    """
    thread = _helper(method, kwargs, voker)
    holder = getattr(thread, "_voker_keywords", None)
    state: Any = getattr(thread, "_state", None)
    headers = getattr(state, "_helper_headers", None)
    if holder is not None and isinstance(headers, dict):
        state._helper_headers = {**headers, HELPER_KEYWORDS_HEADER: holder.token}
        state._voker_keywords = holder
    return thread


def _with_format(
    kwargs: dict[str, Any], output_format: Any, voker: dict[str, Any]
) -> dict[str, Any]:
    """A ``stream``/``parse`` call's keywords: ``kwargs``, ``output_format`` unless omitted (it
    is named in the signature for its type), the ``voker_*`` ones."""
    if not isinstance(output_format, Omit):
        return {**kwargs, "output_format": output_format, **voker}
    return {**kwargs, **voker}


def _voker(
    agent: str | None,
    session: str | None,
    agent_version: str | None,
    person: str | None,
    properties: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The ``voker_*`` keywords given explicitly (None ones left out, so the context applies)."""
    found: dict[str, Any] = {}
    if agent is not None:
        found["voker_agent"] = agent
    if session is not None:
        found["voker_session"] = session
    if agent_version is not None:
        found["voker_agent_version"] = agent_version
    if person is not None:
        found["voker_person"] = person
    if properties is not None:
        found["voker_properties"] = properties
    return found
