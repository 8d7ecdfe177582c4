"""``client.chats`` and ``client.aio.chats`` of the wrapped Gemini client.

A chat is one conversation, so it takes the ``voker_*`` keywords once, at
``chats.create(..., voker_agent=..., voker_session=...)``; each ``send_message`` /
``send_message_stream`` may override them (``voker_properties`` are merged over the chat's), and
the current ``voker_core.context`` fills in what neither gives. Every turn records one ``llm`` event whose ``inputs`` are what the model is sent:
the chat's history plus the new message (``contents``), the model and the config. A turn with
automatic function calling is still one event (the final response and its usage).

The SDK's chat sends through a ``Models`` object; the recorded chat is given a plain one, so a
turn is recorded by the chat and not a second time by ``client.models``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from google.genai import types
from google.genai.chats import AsyncChat, AsyncChats, Chat, Chats
from google.genai.models import AsyncModels, Models

from voker_core.ai._gemini.calls import settle, start, voker_kwargs
from voker_core.ai._gemini.streams import AsyncChunkStream, ChunkStream
from voker_core.ai._gemini.translate import REQUEST_CODE, RecordedInputs, request_inputs

if TYPE_CHECKING:
    from voker_core.ai._recorder import LLMCall
    from voker_core.client import VokerClient

__all__ = ["RecordedAsyncChat", "RecordedAsyncChats", "RecordedChat", "RecordedChats"]

logger = logging.getLogger("voker")


def _check_defaults(voker: Mapping[str, Any]) -> None:
    """Reject wrongly typed ``voker_*`` keywords when the chat is created (the values are
    resolved, and a missing session reported, per message)."""
    for name, value in voker.items():
        if name == "voker_properties":
            if not isinstance(value, Mapping):
                raise TypeError(f"{name} must be a dict, got {type(value).__name__}")
        elif not isinstance(value, str):
            raise TypeError(f"{name} must be a string, got {type(value).__name__}")


class _TurnRecording:
    """What the sync and async chats share: their Voker defaults and how a turn begins."""

    _model: str
    _curated_history: list[types.Content]
    _voker_client: VokerClient | None
    _voker_defaults: dict[str, Any]
    _voker_config: Any

    def _voker_setup(
        self, voker_client: VokerClient | None, defaults: dict[str, Any], config: Any
    ) -> None:
        self._voker_client = voker_client
        self._voker_defaults = defaults
        self._voker_config = config  # as given: the SDK's own copy carries its usage headers

    def _voker_start(
        self, message: Any, config: Any, voker: dict[str, Any], *, stream: bool
    ) -> LLMCall | None:
        chat_properties = self._voker_defaults.get("voker_properties")
        if chat_properties and isinstance(voker.get("voker_properties"), Mapping):
            # Properties add up (as the context's do); the other keywords replace the chat's.
            voker = {
                **voker,
                "voker_properties": {**chat_properties, **voker["voker_properties"]},
            }
        call, _ = start(
            self._voker_client,
            {"model": self._model, **voker},
            stream=stream,
            inputs=lambda: self._voker_inputs(message, config),
            defaults=self._voker_defaults,
        )
        return call

    def _voker_inputs(self, message: Any, config: Any) -> RecordedInputs:
        """What this turn sends: the curated history plus the new message, as the SDK makes
        it a ``Content``."""
        try:
            from google.genai import _transformers

            new_content: Any = _transformers.t_content(message)
        except Exception:
            new_content = message  # the SDK rejects it itself
        contents = [*self._curated_history, new_content]
        return request_inputs(self._model, contents, config or self._voker_config)


class RecordedChat(Chat, _TurnRecording):
    """A chat session whose every ``send_message``/``send_message_stream`` is recorded."""

    def __init__(
        self,
        *,
        modules: Models,
        model: str,
        config: types.GenerateContentConfigOrDict | None = None,
        history: list[types.ContentOrDict],
        voker_client: VokerClient | None = None,
        voker_defaults: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(modules=modules, model=model, config=config, history=history)
        self._voker_setup(voker_client, dict(voker_defaults or {}), config)

    def send_message(
        self,
        message: list[types.PartUnionDict] | types.PartUnionDict,
        config: types.GenerateContentConfigOrDict | None = None,
        *,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
    ) -> types.GenerateContentResponse:
        """``Chat.send_message``, recorded as one ``llm`` event; ``voker_*`` override the
        chat's."""
        voker = voker_kwargs(
            voker_agent, voker_session, voker_agent_version, voker_person, voker_properties
        )
        call = self._voker_start(message, config, voker, stream=False)
        if call is None:
            return super().send_message(message, config)
        response = call.invoke(
            super().send_message, {"message": message, "config": config}, REQUEST_CODE
        )
        settle(call, response)
        return response

    def send_message_stream(
        self,
        message: list[types.PartUnionDict] | types.PartUnionDict,
        config: types.GenerateContentConfigOrDict | None = None,
        *,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
    ) -> Iterator[types.GenerateContentResponse]:
        """``Chat.send_message_stream``: the SDK's generator, recorded once per turn."""
        voker = voker_kwargs(
            voker_agent, voker_session, voker_agent_version, voker_person, voker_properties
        )
        call = self._voker_start(message, config, voker, stream=True)
        chunks = super().send_message_stream(message, config)  # a generator: no request yet
        if call is None:
            return chunks
        call.resolve()
        return ChunkStream(chunks, call)


class RecordedAsyncChat(AsyncChat, _TurnRecording):
    """The async chat session; see :class:`RecordedChat`."""

    def __init__(
        self,
        *,
        modules: AsyncModels,
        model: str,
        config: types.GenerateContentConfigOrDict | None = None,
        history: list[types.ContentOrDict],
        voker_client: VokerClient | None = None,
        voker_defaults: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(modules=modules, model=model, config=config, history=history)
        self._voker_setup(voker_client, dict(voker_defaults or {}), config)

    async def send_message(
        self,
        message: list[types.PartUnionDict] | types.PartUnionDict,
        config: types.GenerateContentConfigOrDict | None = None,
        *,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
    ) -> types.GenerateContentResponse:
        """``AsyncChat.send_message``, recorded as one ``llm`` event."""
        voker = voker_kwargs(
            voker_agent, voker_session, voker_agent_version, voker_person, voker_properties
        )
        call = self._voker_start(message, config, voker, stream=False)
        if call is None:
            return await super().send_message(message, config)
        response = await call.ainvoke(
            super().send_message, {"message": message, "config": config}, REQUEST_CODE
        )
        settle(call, response)
        return response

    async def send_message_stream(
        self,
        message: list[types.PartUnionDict] | types.PartUnionDict,
        config: types.GenerateContentConfigOrDict | None = None,
        *,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[types.GenerateContentResponse]:
        """``AsyncChat.send_message_stream``: the SDK's async generator, recorded once."""
        voker = voker_kwargs(
            voker_agent, voker_session, voker_agent_version, voker_person, voker_properties
        )
        call = self._voker_start(message, config, voker, stream=True)
        if call is None:
            return await super().send_message_stream(message, config)
        chunks = await call.ainvoke(  # no request yet
            super().send_message_stream, {"message": message, "config": config}, REQUEST_CODE
        )
        return AsyncChunkStream(chunks, call)


class RecordedChats(Chats):
    """``client.chats``: ``create`` takes the chat's ``voker_*`` defaults."""

    def __init__(self, modules: Models, voker_client: VokerClient | None = None) -> None:
        super().__init__(modules=modules)
        self._voker_client = voker_client

    def create(
        self,
        *,
        model: str,
        config: types.GenerateContentConfigOrDict | None = None,
        history: list[types.ContentOrDict] | None = None,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
    ) -> RecordedChat:
        """``chats.create`` with the conversation's ``voker_*`` keywords (each message may
        override them; a missing agent or session is reported when a message is sent)."""
        defaults = voker_kwargs(
            voker_agent, voker_session, voker_agent_version, voker_person, voker_properties
        )
        _check_defaults(defaults)
        return RecordedChat(
            modules=self._modules,
            model=model,
            config=config,
            history=history if history else [],
            voker_client=self._voker_client,
            voker_defaults=defaults,
        )


class RecordedAsyncChats(AsyncChats):
    """``client.aio.chats``; see :class:`RecordedChats`."""

    def __init__(self, modules: AsyncModels, voker_client: VokerClient | None = None) -> None:
        super().__init__(modules=modules)
        self._voker_client = voker_client

    def create(
        self,
        *,
        model: str,
        config: types.GenerateContentConfigOrDict | None = None,
        history: list[types.ContentOrDict] | None = None,
        voker_agent: str | None = None,
        voker_session: str | None = None,
        voker_agent_version: str | None = None,
        voker_person: str | None = None,
        voker_properties: Mapping[str, Any] | None = None,
    ) -> RecordedAsyncChat:
        """``aio.chats.create`` with the conversation's ``voker_*`` keywords."""
        defaults = voker_kwargs(
            voker_agent, voker_session, voker_agent_version, voker_person, voker_properties
        )
        _check_defaults(defaults)
        return RecordedAsyncChat(
            modules=self._modules,
            model=model,
            config=config,
            history=history if history else [],
            voker_client=self._voker_client,
            voker_defaults=defaults,
        )
