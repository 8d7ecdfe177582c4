"""A drop-in google-genai ``Client`` that records one Voker ``llm`` event per generate call.

``Client`` is a subclass of ``google.genai.Client``: construct it with the usual arguments (Gemini
Developer API or Vertex AI — ``vertexai=True, project=..., location=...`` — and any
``http_options``) plus an optional ``voker_client=`` (default: ``voker_core.get_client()``)::

    from voker_core.ai.provider_gemini import Client

    client = Client()  # GEMINI_API_KEY / GOOGLE_API_KEY from the environment, as usual
    response = client.models.generate_content(
        model="gemini-2.5-flash",
        contents="Hello",
        voker_agent="support-bot",
        voker_session="conversation-42",
    )

    for chunk in client.models.generate_content_stream(model=..., contents=...,
                                                       voker_agent=..., voker_session=...):
        print(chunk.text, end="")

    chat = client.chats.create(model="gemini-2.5-flash",
                               voker_agent="support-bot", voker_session="conversation-42")
    chat.send_message("Hi")              # one event per turn, the history as inputs
    chat.send_message("And then?", voker_properties={"step": 2})   # per-turn overrides

Recorded, sync and under ``client.aio``: ``models.generate_content``,
``models.generate_content_stream`` and every chat's ``send_message``/``send_message_stream``
(``api="gemini-models"``, ``provider="gemini"``). Other keywords: ``voker_agent_version``,
``voker_person``, ``voker_properties``; inside ``voker_core.context(...)`` none are needed. A
stream is the SDK's own generator, recorded once when it ends, fails, or is closed or dropped;
a provider error is recorded and re-raised unchanged.

Keep a reference to the client while its responses or streams are in use: google-genai closes
its connections when a ``Client`` is garbage-collected (this wrapper changes nothing there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

try:
    from google import genai
    from google.genai.client import AsyncClient
    from google.genai.models import AsyncModels, Models
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "voker_core.ai.provider_gemini needs the Google Gen AI SDK: "
        "pip install 'voker-integrations[gemini]'"
    ) from exc

from voker_core.ai._gemini.chats import RecordedAsyncChats, RecordedChats
from voker_core.ai._gemini.models import RecordedAsyncModels, RecordedModels
from voker_core.context import check_client

if TYPE_CHECKING:
    from google.genai._api_client import BaseApiClient
    from typing_extensions import Unpack

    from voker_core.client import VokerClient

__all__ = ["Client"]


class ClientOptions(TypedDict, total=False):
    """``google.genai.Client(...)``'s keywords (for type checkers; every keyword is passed to
    the SDK as it is, including any a newer SDK adds)."""

    vertexai: bool | None
    enterprise: bool | None
    api_key: str | None
    credentials: Any
    project: str | None
    location: str | None
    debug_config: Any
    http_options: Any


class RecordedAsyncClient(AsyncClient):
    """``client.aio`` with recorded ``models`` and ``chats``."""

    _models: RecordedAsyncModels

    def __init__(self, api_client: BaseApiClient, voker_client: VokerClient | None = None) -> None:
        super().__init__(api_client)
        self._voker_client = voker_client
        models = RecordedAsyncModels(api_client)
        models._voker_client = voker_client
        self._models = models
        # Chats send through an unrecorded Models: the chat records each turn itself.
        self._voker_chat_models = AsyncModels(api_client)

    @property
    def models(self) -> RecordedAsyncModels:
        return self._models

    @property
    def chats(self) -> RecordedAsyncChats:
        return RecordedAsyncChats(self._voker_chat_models, self._voker_client)


class Client(genai.Client):
    """``google.genai.Client`` whose generate calls and chats record Voker ``llm`` events."""

    _models: RecordedModels
    _aio: RecordedAsyncClient

    def __init__(
        self, *, voker_client: VokerClient | None = None, **kwargs: Unpack[ClientOptions]
    ) -> None:
        check_client(voker_client, "voker_client")
        super().__init__(**kwargs)
        self._voker_client = voker_client
        models = RecordedModels(self._api_client)
        models._voker_client = voker_client
        self._models = models
        self._voker_chat_models = Models(self._api_client)
        # Kept, not dropped: before google-genai 3.4 a collected AsyncClient schedules the close of
        # the HTTP client it shares with this one (its __del__, under a running event loop).
        self._voker_sdk_aio = self._aio
        self._aio = RecordedAsyncClient(self._api_client, voker_client)

    @property
    def models(self) -> RecordedModels:
        return self._models

    @property
    def aio(self) -> RecordedAsyncClient:
        return self._aio

    @property
    def chats(self) -> RecordedChats:
        return RecordedChats(self._voker_chat_models, self._voker_client)
