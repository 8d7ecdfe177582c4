"""The wrapped ``responses`` resource, sync and async.

Subclasses of the SDK's resources overriding only ``create``, ``parse`` and ``stream``;
everything else (``retrieve``, ``input_items``, ``connect``...) is the SDK's. The SDK's
``.stream()`` helper and its ``with_raw_response`` / ``with_streaming_response`` wrappers call
``self.create`` / ``self.parse``, so they reach the overrides too (see :mod:`._calls`).

Every override accepts ``voker_agent``, ``voker_session``, ``voker_agent_version``,
``voker_person`` and ``voker_properties``; agent and session may come from
``voker_core.context(...)`` instead. For type checkers, ``create`` is overloaded on the SDK's
own request ``TypedDict``s plus these keywords (full completion and the right return type);
``parse`` and ``stream`` name the Voker keywords and the response-format argument, and accept
the SDK's other arguments as ``**kwargs``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, overload

from openai import AsyncStream, Omit, Stream, omit
from openai.lib._parsing._responses import TextFormatT
from openai.lib.streaming.responses import AsyncResponseStreamManager, ResponseStreamManager
from openai.resources.responses import responses as _responses
from openai.types.responses import ParsedResponse, Response, ResponseStreamEvent
from typing_extensions import Unpack

from voker_core.ai._openai._calls import (
    RESPONSES,
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
from voker_core.ai._openai._typing import ResponsesCreateNonStreaming, ResponsesCreateStreaming
from voker_core.ai._recorder import split_voker_kwargs

__all__ = ["AsyncResponses", "Responses"]


def _resumes(kwargs: Mapping[str, Any]) -> bool:
    """``responses.stream(response_id=...)`` re-reads an existing response: no new LLM call."""
    response_id = kwargs.get("response_id")
    return response_id is not None and not isinstance(response_id, Omit)


class Responses(_responses.Responses):
    """``client.responses`` recording ``create``, ``parse`` and ``stream``."""

    @overload  # type: ignore[override]
    def create(self, **kwargs: Unpack[ResponsesCreateNonStreaming]) -> Response: ...

    @overload
    def create(self, **kwargs: Unpack[ResponsesCreateStreaming]) -> Stream[ResponseStreamEvent]: ...

    def create(self, **kwargs: Any) -> Response | Stream[ResponseStreamEvent]:
        """``responses.create``, recorded as one ``llm`` event.

        Takes the SDK's arguments plus ``voker_agent``, ``voker_session`` (both required unless
        set by ``voker_core.context``), ``voker_agent_version``, ``voker_person`` and
        ``voker_properties``. Returns the SDK's ``Response`` or ``Stream``.
        """
        call, send, _ = begin(self, RESPONSES, kwargs)
        result: Response | Stream[ResponseStreamEvent] = call.invoke(
            super().create, send, SDK_REQUEST
        )
        return settle(call, result, RESPONSES)

    def parse(
        self,
        *,
        text_format: type[TextFormatT] | Omit = omit,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> ParsedResponse[TextFormatT]:
        """``responses.parse``, recorded; ``voker_*`` keywords as for ``create``."""
        kwargs = merge_named(
            kwargs,
            "text_format",
            text_format,
            voker_agent,
            voker_session,
            voker_agent_version,
            voker_person,
            voker_properties,
        )
        call, send, _ = begin(self, RESPONSES, kwargs)
        result = call.invoke(keeping_completion(call, RESPONSES, super().parse), send, SDK_REQUEST)
        return settle(call, result, RESPONSES)

    def stream(
        self,
        *,
        text_format: type[TextFormatT] | Omit = omit,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> ResponseStreamManager[TextFormatT]:
        """``responses.stream``; the request (made on entering the manager) is recorded.

        ``stream(response_id=...)`` re-reads an existing response and is not recorded.
        """
        kwargs = merge_named(
            kwargs,
            "text_format",
            text_format,
            voker_agent,
            voker_session,
            voker_agent_version,
            voker_person,
            voker_properties,
        )
        if _resumes(kwargs):
            return super().stream(**split_voker_kwargs(kwargs)[0])
        _, send = begin_pending(self, RESPONSES, kwargs)
        return watch_helper_errors(super().stream(**send))


class AsyncResponses(_responses.AsyncResponses):
    """``client.responses`` (async) recording ``create``, ``parse`` and ``stream``."""

    @overload  # type: ignore[override]
    async def create(self, **kwargs: Unpack[ResponsesCreateNonStreaming]) -> Response: ...

    @overload
    async def create(
        self, **kwargs: Unpack[ResponsesCreateStreaming]
    ) -> AsyncStream[ResponseStreamEvent]: ...

    async def create(self, **kwargs: Any) -> Response | AsyncStream[ResponseStreamEvent]:
        """``responses.create``, recorded as one ``llm`` event (see the sync twin)."""
        call, send, _ = begin(self, RESPONSES, kwargs)
        result = await call.ainvoke(super().create, send, SDK_REQUEST)
        return await settle_async(call, result, RESPONSES, False)

    async def parse(
        self,
        *,
        text_format: type[TextFormatT] | Omit = omit,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> ParsedResponse[TextFormatT]:
        """``responses.parse``, recorded; ``voker_*`` keywords as for ``create``."""
        kwargs = merge_named(
            kwargs,
            "text_format",
            text_format,
            voker_agent,
            voker_session,
            voker_agent_version,
            voker_person,
            voker_properties,
        )
        call, send, _ = begin(self, RESPONSES, kwargs)
        result = await call.ainvoke(
            keeping_completion_async(call, RESPONSES, super().parse), send, SDK_REQUEST
        )
        return await settle_async(call, result, RESPONSES, False)

    def stream(
        self,
        *,
        text_format: type[TextFormatT] | Omit = omit,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> AsyncResponseStreamManager[TextFormatT]:
        """``responses.stream``; the request (made on entering the manager) is recorded."""
        kwargs = merge_named(
            kwargs,
            "text_format",
            text_format,
            voker_agent,
            voker_session,
            voker_agent_version,
            voker_person,
            voker_properties,
        )
        if _resumes(kwargs):
            return super().stream(**split_voker_kwargs(kwargs)[0])
        _, send = begin_pending(self, RESPONSES, kwargs)
        return watch_helper_errors(super().stream(**send))
