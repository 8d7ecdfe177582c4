"""Keyword-argument types of the wrapped ``create`` methods, for type checkers and IDEs.

The Anthropic SDK ships its request bodies as ``TypedDict``s; adding the ``voker_*`` keywords and
the per-request options gives ``create(**kwargs: Unpack[...])`` overloads that complete and check
every provider argument *and* the Voker ones, with the provider's return types.

``VokerArgs`` mirrors ``voker_core.ai._openai._typing.VokerArgs`` (which imports ``openai``, an
optional extra); both belong in one SDK-free module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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

__all__ = [
    "BetaCreateNonStreaming",
    "BetaCreateStreaming",
    "CreateNonStreaming",
    "CreateStreaming",
    "RequestOptions",
    "VokerArgs",
]


class VokerArgs(TypedDict, total=False):
    """The Voker keywords every wrapped call accepts (removed before Anthropic is called).

    ``voker_agent`` and ``voker_session`` are required unless the current
    ``voker_core.context(...)`` provides them.
    """

    voker_agent: str
    voker_session: str
    voker_agent_version: str
    voker_person: str
    voker_properties: Mapping[str, Any]


class RequestOptions(TypedDict, total=False):
    """The SDK's per-request options."""

    extra_headers: Headers | None
    extra_query: Query | None
    extra_body: Body | None
    timeout: float | Timeout | NotGiven | None


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
