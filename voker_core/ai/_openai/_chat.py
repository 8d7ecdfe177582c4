"""The wrapped ``chat.completions`` resource (and ``chat``, ``beta``), sync and async.

Subclasses of the SDK's resources overriding only ``create``, ``parse`` and ``stream``;
everything else (``retrieve``, ``list``, ``messages``...) is the SDK's. The SDK's ``.stream()``
helper and its ``with_raw_response`` / ``with_streaming_response`` wrappers call ``self.create``
/ ``self.parse``, so they reach the overrides too (see :mod:`._calls`).

Every override accepts ``voker_agent``, ``voker_session``, ``voker_agent_version``,
``voker_person`` and ``voker_properties``; agent and session may come from
``voker_core.context(...)`` instead. For type checkers, ``create`` is overloaded on the SDK's
own request ``TypedDict``s plus these keywords (full completion and the right return type);
``parse`` and ``stream`` name the Voker keywords and the response-format argument, and accept
the SDK's other arguments as ``**kwargs``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, overload

from openai import AsyncStream, Omit, Stream, omit
from openai.lib._parsing import ResponseFormatT
from openai.lib.streaming.chat import (
    AsyncChatCompletionStreamManager,
    ChatCompletionStreamManager,
)
from openai.resources.beta import beta as _beta
from openai.resources.chat import chat as _chat
from openai.resources.chat.completions import completions as _completions
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ParsedChatCompletion
from openai.types.chat.completion_create_params import ResponseFormat
from typing_extensions import Unpack

from voker_core.ai._openai._calls import (
    CHAT,
    SDK_REQUEST,
    begin,
    begin_pending,
    keeping_completion,
    keeping_completion_async,
    merge_named,
    settle,
    settle_async,
    watch_helper_errors,
)
from voker_core.ai._openai._typing import ChatCreateNonStreaming, ChatCreateStreaming

if TYPE_CHECKING:
    from voker_core.ai._openai._beta_responses import AsyncBetaResponses, BetaResponses

    cached_property = property
else:
    from functools import cached_property

__all__ = ["AsyncBeta", "AsyncChat", "AsyncCompletions", "Beta", "Chat", "Completions"]


class Completions(_completions.Completions):
    """``client.chat.completions`` recording ``create``, ``parse`` and ``stream``."""

    @overload  # type: ignore[override]
    def create(self, **kwargs: Unpack[ChatCreateNonStreaming]) -> ChatCompletion: ...

    @overload
    def create(self, **kwargs: Unpack[ChatCreateStreaming]) -> Stream[ChatCompletionChunk]: ...

    def create(self, **kwargs: Any) -> ChatCompletion | Stream[ChatCompletionChunk]:
        """``chat.completions.create``, recorded as one ``llm`` event.

        Takes the SDK's arguments plus ``voker_agent``, ``voker_session`` (both required unless
        set by ``voker_core.context``), ``voker_agent_version``, ``voker_person`` and
        ``voker_properties``. Returns the SDK's ``ChatCompletion`` or ``Stream``.
        """
        call, send, usage = begin(self, CHAT, kwargs, request_usage=True)
        create = super().create if usage is None else usage.fallback(super().create)
        result: ChatCompletion | Stream[ChatCompletionChunk] = call.invoke(
            create, send, SDK_REQUEST
        )
        return settle(call, result, CHAT, hide_usage_chunk=usage is not None and usage.asked)

    def parse(
        self,
        *,
        response_format: type[ResponseFormatT] | Omit = omit,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> ParsedChatCompletion[ResponseFormatT]:
        """``chat.completions.parse``, recorded; ``voker_*`` keywords as for ``create``."""
        kwargs = merge_named(
            kwargs,
            "response_format",
            response_format,
            voker_agent,
            voker_session,
            voker_agent_version,
            voker_person,
            voker_properties,
        )
        call, send, _ = begin(self, CHAT, kwargs, stream=False)
        result = call.invoke(keeping_completion(call, CHAT, super().parse), send, SDK_REQUEST)
        return settle(call, result, CHAT)

    def stream(
        self,
        *,
        response_format: ResponseFormat | type[ResponseFormatT] | Omit = omit,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> ChatCompletionStreamManager[ResponseFormatT]:
        """``chat.completions.stream``; the request (made on entering the manager) is recorded.

        ``voker_*`` keywords as for ``create``; a missing session raises here, at once.
        """
        kwargs = merge_named(
            kwargs,
            "response_format",
            response_format,
            voker_agent,
            voker_session,
            voker_agent_version,
            voker_person,
            voker_properties,
        )
        _, send = begin_pending(self, CHAT, kwargs)
        return watch_helper_errors(super().stream(**send))


class AsyncCompletions(_completions.AsyncCompletions):
    """``client.chat.completions`` (async) recording ``create``, ``parse`` and ``stream``."""

    @overload  # type: ignore[override]
    async def create(self, **kwargs: Unpack[ChatCreateNonStreaming]) -> ChatCompletion: ...

    @overload
    async def create(
        self, **kwargs: Unpack[ChatCreateStreaming]
    ) -> AsyncStream[ChatCompletionChunk]: ...

    async def create(self, **kwargs: Any) -> ChatCompletion | AsyncStream[ChatCompletionChunk]:
        """``chat.completions.create``, recorded as one ``llm`` event (see the sync twin)."""
        call, send, usage = begin(self, CHAT, kwargs, request_usage=True)
        create = super().create if usage is None else usage.afallback(super().create)
        result = await call.ainvoke(create, send, SDK_REQUEST)
        return await settle_async(call, result, CHAT, usage is not None and usage.asked)

    async def parse(
        self,
        *,
        response_format: type[ResponseFormatT] | Omit = omit,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> ParsedChatCompletion[ResponseFormatT]:
        """``chat.completions.parse``, recorded; ``voker_*`` keywords as for ``create``."""
        kwargs = merge_named(
            kwargs,
            "response_format",
            response_format,
            voker_agent,
            voker_session,
            voker_agent_version,
            voker_person,
            voker_properties,
        )
        call, send, _ = begin(self, CHAT, kwargs, stream=False)
        result = await call.ainvoke(
            keeping_completion_async(call, CHAT, super().parse), send, SDK_REQUEST
        )
        return await settle_async(call, result, CHAT, False)

    def stream(
        self,
        *,
        response_format: ResponseFormat | type[ResponseFormatT] | Omit = omit,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> AsyncChatCompletionStreamManager[ResponseFormatT]:
        """``chat.completions.stream``; the request (made on entering the manager) is recorded."""
        kwargs = merge_named(
            kwargs,
            "response_format",
            response_format,
            voker_agent,
            voker_session,
            voker_agent_version,
            voker_person,
            voker_properties,
        )
        _, send = begin_pending(self, CHAT, kwargs)
        return watch_helper_errors(super().stream(**send))


class Chat(_chat.Chat):
    """``client.chat`` whose ``completions`` record."""

    @cached_property
    def completions(self) -> Completions:
        return Completions(self._client)


class AsyncChat(_chat.AsyncChat):
    """``client.chat`` (async) whose ``completions`` record."""

    @cached_property
    def completions(self) -> AsyncCompletions:
        return AsyncCompletions(self._client)


class Beta(_beta.Beta):
    """``client.beta``, whose ``chat`` (the SDK's older alias of ``client.chat``) and
    ``responses`` (the beta Responses API, in SDKs that have it) record."""

    @cached_property
    def chat(self) -> Chat:
        return Chat(self._client)

    if hasattr(_beta.Beta, "responses"):

        @cached_property
        def responses(self) -> BetaResponses:
            from voker_core.ai._openai._beta_responses import BetaResponses

            return BetaResponses(self._client)


class AsyncBeta(_beta.AsyncBeta):
    """``client.beta`` (async), whose ``chat`` and ``responses`` record."""

    @cached_property
    def chat(self) -> AsyncChat:
        return AsyncChat(self._client)

    if hasattr(_beta.AsyncBeta, "responses"):

        @cached_property
        def responses(self) -> AsyncBetaResponses:
            from voker_core.ai._openai._beta_responses import AsyncBetaResponses

            return AsyncBetaResponses(self._client)
