"""Keyword-argument types of the wrapped ``create`` methods, for type checkers and IDEs.

The Anthropic SDK ships its request bodies as ``TypedDict``s; adding the ``voker_*`` keywords and
the per-request options gives ``create(**kwargs: Unpack[...])`` overloads that complete and check
every provider argument *and* the Voker ones, with the provider's return types.

The client options mirror the SDK's constructors so that ``Anthropic(voker_client=...,
**options)`` completes them too; at run time every keyword is passed through to the SDK
unchanged, including any a newer SDK adds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from anthropic import NotGiven, Timeout
from anthropic._types import Body, Headers, Query
from anthropic.types.beta.message_create_params import (
    MessageCreateParamsNonStreaming as BetaMessageCreateParamsNonStreaming,
)
from anthropic.types.beta.message_create_params import (
    MessageCreateParamsStreaming as BetaMessageCreateParamsStreaming,
)
from anthropic.types.message_create_params import (
    MessageCreateParamsNonStreaming,
    MessageCreateParamsStreaming,
)
from typing_extensions import TypedDict

from voker_core.ai._keywords import VokerArgs

if TYPE_CHECKING:
    import httpx2

__all__ = [
    "AsyncClientOptions",
    "BetaCreateNonStreaming",
    "BetaCreateStreaming",
    "CreateNonStreaming",
    "CreateStreaming",
    "RequestOptions",
    "SyncClientOptions",
    "VokerArgs",
]


class RequestOptions(TypedDict, total=False):
    """The SDK's per-request options."""

    extra_headers: Headers | None
    extra_query: Query | None
    extra_body: Body | None
    timeout: float | Timeout | NotGiven | None


class _ClientOptions(TypedDict, total=False):
    api_key: str | None
    auth_token: str | None
    config: Mapping[str, Any] | None
    profile: str | None
    webhook_key: str | None
    base_url: str | httpx2.URL | None
    timeout: float | Timeout | NotGiven | None
    max_retries: int
    default_headers: Mapping[str, str] | None
    default_query: Mapping[str, object] | None
    open_telemetry: Any
    middleware: Any
    _strict_response_validation: bool


class SyncClientOptions(_ClientOptions, total=False):
    """``anthropic.Anthropic(...)``'s keywords."""

    credentials: Any
    http_client: httpx2.Client | None


class AsyncClientOptions(_ClientOptions, total=False):
    """``anthropic.AsyncAnthropic(...)``'s keywords."""

    credentials: Any
    http_client: httpx2.AsyncClient | None


class CreateNonStreaming(MessageCreateParamsNonStreaming, VokerArgs, RequestOptions, total=False):
    """``messages.create(...)`` without ``stream=True``."""


class CreateStreaming(MessageCreateParamsStreaming, VokerArgs, RequestOptions, total=False):
    """``messages.create(..., stream=True)``."""


class BetaCreateNonStreaming(
    BetaMessageCreateParamsNonStreaming, VokerArgs, RequestOptions, total=False
):
    """``beta.messages.create(...)`` without ``stream=True``."""


class BetaCreateStreaming(BetaMessageCreateParamsStreaming, VokerArgs, RequestOptions, total=False):
    """``beta.messages.create(..., stream=True)``."""
