"""``client.models`` and ``client.aio.models`` of the wrapped Gemini client.

Subclasses of google-genai's ``Models``/``AsyncModels``: ``generate_content`` and
``generate_content_stream`` accept the ``voker_*`` keywords and record one ``llm`` event per call
(a call with automatic function calling or continuation may make several requests; it is one
event, with the final response and its usage). Everything else is the SDK's.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from google.genai import types
from google.genai.models import AsyncModels, Models

from voker_core.ai._gemini.calls import settle, start, voker_kwargs
from voker_core.ai._gemini.streams import AsyncChunkStream, ChunkStream
from voker_core.ai._gemini.translate import REQUEST_CODE, request_inputs

if TYPE_CHECKING:
    from voker_core.client import VokerClient

__all__ = ["RecordedAsyncModels", "RecordedModels"]


# The usual types of ``contents``, which can be read more than once (checked first: cheaper
# than the isinstance check against the Iterator ABC).
_MANY_TIMES = frozenset({str, list})


def _prepare(
    client: VokerClient | None,
    model: str,
    contents: Any,
    config: Any,
    voker: dict[str, Any],
    *,
    stream: bool,
) -> tuple[Any, dict[str, Any]]:
    if (
        type(contents) not in _MANY_TIMES
        and isinstance(contents, Iterator)
        and not isinstance(contents, io.IOBase)  # (files iterate too)
    ):
        # A one-shot iterator (the SDK takes any): read once, here, so that the list is both
        # what is sent and what is recorded - not the generator's repr.
        contents = list(contents)
    kwargs: dict[str, Any] = {"model": model, "contents": contents, "config": config, **voker}
    return start(
        client, kwargs, stream=stream, inputs=lambda: request_inputs(model, contents, config)
    )


class RecordedModels(Models):
    """``client.models`` recording ``generate_content`` and ``generate_content_stream``."""

    _voker_client: VokerClient | None = None

    def generate_content(
        self,
        *,
        model: str,
        contents: types.ContentListUnionDict,
        config: types.GenerateContentConfigOrDict | None = None,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
    ) -> types.GenerateContentResponse:
        """``models.generate_content``, recorded as one ``llm`` event.

        ``voker_agent`` and ``voker_session`` are required unless set by
        ``voker_core.context``; ``voker_agent_version``, ``voker_person`` and
        ``voker_properties`` are optional.
        """
        voker = voker_kwargs(
            voker_agent, voker_session, voker_agent_version, voker_person, voker_properties
        )
        call, send = _prepare(self._voker_client, model, contents, config, voker, stream=False)
        if call is None:
            return super().generate_content(**send)
        response: types.GenerateContentResponse = call.invoke(
            super().generate_content, send, REQUEST_CODE
        )
        settle(call, response)
        return response

    def generate_content_stream(
        self,
        *,
        model: str,
        contents: types.ContentListUnionDict,
        config: types.GenerateContentConfigOrDict | None = None,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
    ) -> Iterator[types.GenerateContentResponse]:
        """``models.generate_content_stream``: the SDK's generator of chunks, recorded once when
        the iteration ends, fails, or the generator is closed or dropped."""
        voker = voker_kwargs(
            voker_agent, voker_session, voker_agent_version, voker_person, voker_properties
        )
        call, send = _prepare(self._voker_client, model, contents, config, voker, stream=True)
        chunks = super().generate_content_stream(**send)  # a generator: no request yet
        if call is None:
            return chunks
        call.resolve()
        return ChunkStream(chunks, call)


class RecordedAsyncModels(AsyncModels):
    """``client.aio.models``; see :class:`RecordedModels`."""

    _voker_client: VokerClient | None = None

    async def generate_content(
        self,
        *,
        model: str,
        contents: types.ContentListUnion | types.ContentListUnionDict,
        config: types.GenerateContentConfigOrDict | None = None,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
    ) -> types.GenerateContentResponse:
        """``aio.models.generate_content``, recorded as one ``llm`` event."""
        voker = voker_kwargs(
            voker_agent, voker_session, voker_agent_version, voker_person, voker_properties
        )
        call, send = _prepare(self._voker_client, model, contents, config, voker, stream=False)
        if call is None:
            return await super().generate_content(**send)
        response: types.GenerateContentResponse = await call.ainvoke(
            super().generate_content, send, REQUEST_CODE
        )
        settle(call, response)
        return response

    async def generate_content_stream(
        self,
        *,
        model: str,
        contents: types.ContentListUnion | types.ContentListUnionDict,
        config: types.GenerateContentConfigOrDict | None = None,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[types.GenerateContentResponse]:
        """``aio.models.generate_content_stream``: the SDK's async generator, recorded once."""
        voker = voker_kwargs(
            voker_agent, voker_session, voker_agent_version, voker_person, voker_properties
        )
        call, send = _prepare(self._voker_client, model, contents, config, voker, stream=True)
        if call is None:
            return await super().generate_content_stream(**send)
        chunks = await call.ainvoke(  # no request yet
            super().generate_content_stream, send, REQUEST_CODE
        )
        return AsyncChunkStream(chunks, call)
