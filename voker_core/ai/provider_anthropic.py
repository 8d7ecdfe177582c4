"""Drop-in Anthropic clients that record one Voker ``llm`` event per Messages call.

``Anthropic`` and ``AsyncAnthropic`` are subclasses of the SDK's clients: construct them with the
usual arguments plus an optional ``voker_client=`` (default: the process-wide
``voker_core.get_client()``), and pass ``voker_agent=`` and ``voker_session=`` (or call inside
``voker_core.context(...)``) to the recorded methods::

    from voker_core.ai.provider_anthropic import Anthropic

    client = Anthropic()  # ANTHROPIC_API_KEY from the environment, as usual
    message = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=512,
        messages=[{"role": "user", "content": "Hello"}],
        voker_agent="support-bot",
        voker_session="conversation-42",
    )

    with client.messages.stream(model=..., max_tokens=512, messages=[...],
                                voker_agent="support-bot", voker_session="conversation-42") as s:
        for text in s.text_stream:
            print(text, end="")
        final = s.get_final_message()   # the SDK's helpers are untouched

Recorded (sync and async): ``messages.create`` (incl. ``stream=True``, which returns the SDK's
``Stream``), ``messages.stream`` (the SDK's ``MessageStreamManager``), ``messages.parse``, and
the same under ``beta.messages`` (``api="anthropic-beta-messages"``). Other keywords:
``voker_agent_version``, ``voker_person``, ``voker_properties``. A stream is recorded once when
it ends, is closed, or is dropped; a provider error is recorded and re-raised unchanged.

SDK helpers that call ``beta.messages.create``/``stream`` for you (``beta.messages.thread``,
``tool_runner``) are recorded request by request; they take agent and session from the
context. ``with_options()``/``copy()`` keep the wrapping and the ``voker_client``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

try:
    import anthropic
    from anthropic._compat import cached_property
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "voker_core.ai.provider_anthropic needs the Anthropic SDK: "
        "pip install 'voker-integrations[anthropic]'"
    ) from exc

from voker_core.ai._anthropic.resources import (
    RecordedAsyncBeta,
    RecordedAsyncMessages,
    RecordedBeta,
    RecordedMessages,
)
from voker_core.context import check_client

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack

    from voker_core.ai._anthropic._typing import AsyncClientOptions, SyncClientOptions
    from voker_core.client import VokerClient

__all__ = ["Anthropic", "AsyncAnthropic"]


def _init_as_base(client: Any, base: type[Any], args: Any, kwargs: Any) -> None:
    """Run the SDK's ``__init__`` with ``client`` momentarily of the SDK's own class.

    The SDK runs its credential chain (profiles, workload identity, the active profile on
    disk) only for instances whose type *is* ``Anthropic``/``AsyncAnthropic``, to keep it off
    its own Bedrock/Vertex subclasses. A drop-in must authenticate exactly as the SDK does, and
    the instance is not shared with anyone yet, so its class is swapped for the constructor.
    """
    own = type(client)
    client.__class__ = base
    try:
        base.__init__(client, *args, **kwargs)
    finally:
        client.__class__ = own


def _inherit_credentials(client: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``copy()`` arguments that keep a credentials provider as the SDK's own clients do.

    The SDK's ``copy`` hands a token-based client's ``credentials`` (and, on the same
    deployment, its token cache) to the copy only when the type *is* its own class; this passes
    them explicitly in that same situation, through the ``_extra_kwargs`` hook ``copy`` has.
    """
    try:
        passed = {name: kwargs.get(name) for name in ("api_key", "auth_token", "config", "profile")}
        extra = dict(kwargs.get("_extra_kwargs") or {})
        if (
            any(value is not None for value in passed.values())
            or "credentials" in kwargs
            or "credentials" in extra
            or client.api_key is not None
            or client.auth_token is not None
            or getattr(client, "credentials", None) is None
        ):
            return kwargs
        inherited: dict[str, Any] = {"credentials": client.credentials}
        base_url = kwargs.get("base_url")
        if base_url is None or str(base_url).rstrip("/") == str(client.base_url).rstrip("/"):
            inherited["_token_cache"] = getattr(client, "_token_cache", None)
        return {**kwargs, "_extra_kwargs": {**inherited, **extra}}
    except Exception:
        return kwargs


class Anthropic(anthropic.Anthropic):
    """``anthropic.Anthropic`` whose Messages calls record Voker ``llm`` events."""

    _voker_client: VokerClient | None

    def __init__(
        self,
        *args: Any,
        voker_client: VokerClient | None = None,
        **kwargs: Unpack[SyncClientOptions],
    ) -> None:
        check_client(voker_client, "voker_client")
        _init_as_base(self, anthropic.Anthropic, args, kwargs)
        self._voker_client = voker_client

    @cached_property
    def messages(self) -> RecordedMessages:
        return RecordedMessages(self)

    @cached_property
    def beta(self) -> RecordedBeta:
        return RecordedBeta(self)

    def copy(self, *args: Any, **kwargs: Any) -> Self:
        """The SDK's ``copy``/``with_options``; the copy records to the same Voker client."""
        client = super().copy(*args, **_inherit_credentials(self, kwargs))
        client._voker_client = self._voker_client
        return client

    with_options = copy


class AsyncAnthropic(anthropic.AsyncAnthropic):
    """``anthropic.AsyncAnthropic`` whose Messages calls record Voker ``llm`` events."""

    _voker_client: VokerClient | None

    def __init__(
        self,
        *args: Any,
        voker_client: VokerClient | None = None,
        **kwargs: Unpack[AsyncClientOptions],
    ) -> None:
        check_client(voker_client, "voker_client")
        _init_as_base(self, anthropic.AsyncAnthropic, args, kwargs)
        self._voker_client = voker_client

    @cached_property
    def messages(self) -> RecordedAsyncMessages:
        return RecordedAsyncMessages(self)

    @cached_property
    def beta(self) -> RecordedAsyncBeta:
        return RecordedAsyncBeta(self)

    def copy(self, *args: Any, **kwargs: Any) -> Self:
        """The SDK's ``copy``/``with_options``; the copy records to the same Voker client."""
        client = super().copy(*args, **_inherit_credentials(self, kwargs))
        client._voker_client = self._voker_client
        return client

    with_options = copy
