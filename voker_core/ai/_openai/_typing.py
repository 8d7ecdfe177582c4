"""Keyword-argument types of the wrapped methods and clients, for type checkers and IDEs.

The OpenAI SDK ships its request bodies as ``TypedDict``s; adding the ``voker_*`` keywords and the
per-request options to them gives ``create(**kwargs: Unpack[...])`` overloads that complete and
check every provider argument *and* the Voker ones, with the provider's return types.

The client options mirror the SDK's constructors (``OpenAI(...)``, ``AzureOpenAI(...)``) so that
``OpenAI(voker_client=..., **options)`` completes them too; at run time every keyword is passed
through to the SDK unchanged, including any a newer SDK adds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from openai import NotGiven, Timeout
from openai._types import Body, Headers, Query
from openai.types.chat.completion_create_params import (
    CompletionCreateParamsNonStreaming,
    CompletionCreateParamsStreaming,
)
from openai.types.responses.response_create_params import (
    ResponseCreateParamsNonStreaming,
    ResponseCreateParamsStreaming,
)
from typing_extensions import TypedDict

from voker_core.ai._keywords import VokerArgs

if TYPE_CHECKING:
    import httpx2

__all__ = [
    "AsyncAzureClientOptions",
    "AsyncClientOptions",
    "AzureClientOptions",
    "ChatCreateNonStreaming",
    "ChatCreateStreaming",
    "RequestOptions",
    "ResponsesCreateNonStreaming",
    "ResponsesCreateStreaming",
    "SyncClientOptions",
    "VokerArgs",
]


class RequestOptions(TypedDict, total=False):
    """The SDK's per-request options."""

    extra_headers: Headers | None
    extra_query: Query | None
    extra_body: Body | None
    timeout: float | Timeout | NotGiven | None


class ChatCreateNonStreaming(
    CompletionCreateParamsNonStreaming, VokerArgs, RequestOptions, total=False
):
    """``chat.completions.create(...)`` without ``stream=True``."""


class ChatCreateStreaming(CompletionCreateParamsStreaming, VokerArgs, RequestOptions, total=False):
    """``chat.completions.create(..., stream=True)``."""


class ResponsesCreateNonStreaming(
    ResponseCreateParamsNonStreaming, VokerArgs, RequestOptions, total=False
):
    """``responses.create(...)`` without ``stream=True``."""


class ResponsesCreateStreaming(
    ResponseCreateParamsStreaming, VokerArgs, RequestOptions, total=False
):
    """``responses.create(..., stream=True)``."""


class _ClientOptions(TypedDict, total=False):
    organization: str | None
    project: str | None
    webhook_secret: str | None
    websocket_base_url: str | httpx2.URL | None
    timeout: float | Timeout | NotGiven | None
    max_retries: int
    default_headers: Mapping[str, str] | None
    default_query: Mapping[str, object] | None
    admin_api_key: str | None
    workload_identity: Any
    _strict_response_validation: bool
    _enforce_credentials: bool


class _OpenAIOptions(_ClientOptions, total=False):
    provider: Any
    base_url: str | httpx2.URL | NotGiven | None
    data_residency: Any


class SyncClientOptions(_OpenAIOptions, total=False):
    """``openai.OpenAI(...)``'s keywords."""

    api_key: str | Callable[[], str] | None
    http_client: httpx2.Client | None


class AsyncClientOptions(_OpenAIOptions, total=False):
    """``openai.AsyncOpenAI(...)``'s keywords."""

    api_key: str | Callable[[], Awaitable[str]] | None
    http_client: httpx2.AsyncClient | None


class _AzureOptions(_ClientOptions, total=False):
    api_version: str | None
    azure_endpoint: str | None
    azure_deployment: str | None
    azure_ad_token: str | None
    base_url: str | None


class AzureClientOptions(_AzureOptions, total=False):
    """``openai.AzureOpenAI(...)``'s keywords."""

    api_key: str | Callable[[], str] | None
    azure_ad_token_provider: Callable[[], str] | None
    http_client: httpx2.Client | None


class AsyncAzureClientOptions(_AzureOptions, total=False):
    """``openai.AsyncAzureOpenAI(...)``'s keywords."""

    api_key: str | Callable[[], Awaitable[str]] | None
    azure_ad_token_provider: Callable[[], str | Awaitable[str]] | None
    http_client: httpx2.AsyncClient | None
