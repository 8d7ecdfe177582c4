"""The wrapped ``beta.responses`` resource, sync and async (OpenAI SDKs that have it).

The beta Responses API (``POST /responses?beta=true``: multi-agent and other previews) answers
with ``BetaResponse`` objects and ``BetaResponseStreamEvent`` streams shaped like the stable
API's, so they are read by the same translation and recorded as ``openai-responses`` calls. The
resource has ``create`` (streamed or not) and no ``parse``/``stream`` helpers; everything else
(``retrieve``, ``cancel``...) is the SDK's.

Imported only from ``client.beta.responses``, which exists only when the SDK has the resource.
"""

from __future__ import annotations

from typing import Any, overload

from openai import AsyncStream, Stream
from openai.resources.beta.responses import responses as _beta_responses
from openai.types.beta import BetaResponse, BetaResponseStreamEvent
from openai.types.beta.response_create_params import (
    ResponseCreateParamsNonStreaming,
    ResponseCreateParamsStreaming,
)
from typing_extensions import Unpack

from voker_core.ai._openai._calls import SDK_REQUEST, Api, begin, settle, settle_async
from voker_core.ai._openai._translate import (
    ResponsesBodyRecorder,
    ResponsesStreamRecorder,
    responses_outcome,
)
from voker_core.ai._openai._typing import RequestOptions, VokerArgs

__all__ = ["AsyncBetaResponses", "BetaResponses"]

BETA_RESPONSES = Api(
    "openai-responses",
    responses_outcome,
    ResponsesStreamRecorder,
    BetaResponse,
    ResponsesBodyRecorder,
    BetaResponseStreamEvent,
)


class BetaResponsesCreateNonStreaming(
    ResponseCreateParamsNonStreaming, VokerArgs, RequestOptions, total=False
):
    """``beta.responses.create(...)`` without ``stream=True``."""


class BetaResponsesCreateStreaming(
    ResponseCreateParamsStreaming, VokerArgs, RequestOptions, total=False
):
    """``beta.responses.create(..., stream=True)``."""


class BetaResponses(_beta_responses.Responses):
    """``client.beta.responses`` recording ``create``."""

    @overload  # type: ignore[override]
    def create(self, **kwargs: Unpack[BetaResponsesCreateNonStreaming]) -> BetaResponse: ...

    @overload
    def create(
        self, **kwargs: Unpack[BetaResponsesCreateStreaming]
    ) -> Stream[BetaResponseStreamEvent]: ...

    def create(self, **kwargs: Any) -> BetaResponse | Stream[BetaResponseStreamEvent]:
        """``beta.responses.create``, recorded as one ``llm`` event.

        Takes the SDK's arguments plus the ``voker_*`` keywords of ``responses.create``.
        """
        call, send, _ = begin(self, BETA_RESPONSES, kwargs)
        result: BetaResponse | Stream[BetaResponseStreamEvent] = call.invoke(
            super().create, send, SDK_REQUEST
        )
        return settle(call, result, BETA_RESPONSES)


class AsyncBetaResponses(_beta_responses.AsyncResponses):
    """``client.beta.responses`` (async) recording ``create``."""

    @overload  # type: ignore[override]
    async def create(self, **kwargs: Unpack[BetaResponsesCreateNonStreaming]) -> BetaResponse: ...

    @overload
    async def create(
        self, **kwargs: Unpack[BetaResponsesCreateStreaming]
    ) -> AsyncStream[BetaResponseStreamEvent]: ...

    async def create(self, **kwargs: Any) -> BetaResponse | AsyncStream[BetaResponseStreamEvent]:
        """``beta.responses.create``, recorded as one ``llm`` event (see the sync twin)."""
        call, send, _ = begin(self, BETA_RESPONSES, kwargs)
        result = await call.ainvoke(super().create, send, SDK_REQUEST)
        return await settle_async(call, result, BETA_RESPONSES, False)
