"""Drop-in OpenAI clients that record every LLM call as a Voker ``llm`` event.

Change the import, nothing else::

    # from openai import OpenAI
    from voker_core.ai.provider_openai import OpenAI

    client = OpenAI()                      # the SDK's arguments, plus optional voker_client=
    client.chat.completions.create(
        voker_agent="customer-support-agent",   # required (or from voker_core.context)
        voker_session="user-session-1",          # required (or from voker_core.context)
        model="gpt-4.1-mini",
        messages=[{"role": "user", "content": "Hello, world!"}],
    )

    with client.chat.completions.create(..., stream=True) as stream:   # the SDK's own Stream
        for chunk in stream:
            ...

    async_client = AsyncOpenAI()
    with voker_core.context(session="conv-1", agent="support-bot"):    # no voker_* needed
        response = await async_client.responses.create(model="gpt-4.1-mini", input="Hi")

``OpenAI``, ``AsyncOpenAI``, ``AzureOpenAI`` and ``AsyncAzureOpenAI`` subclass the SDK's classes
of the same names. Recorded, sync and async: ``chat.completions.create`` (incl. ``stream=True``),
``chat.completions.parse``, ``chat.completions.stream``, ``responses.create`` (incl.
``stream=True``), ``responses.parse`` and ``responses.stream`` (and ``beta.chat.completions``,
the SDK's older alias) - including when called through
``with_raw_response`` / ``with_streaming_response`` and on clients made by ``with_options()`` /
``copy()``. Every other attribute is the SDK's, untouched.

Each call takes ``voker_agent``, ``voker_session``, ``voker_agent_version``, ``voker_person`` and
``voker_properties`` (removed before OpenAI is called). Without an agent or a session, from the
arguments or the current ``voker_core.context``, the call raises ``TypeError`` before any request.
Events go to ``voker_client=`` if given, else the context's client, else ``voker_core``'s default
client. ``provider`` is ``"openai"``: ``"azure-openai"`` for the Azure clients, and
``"<name>-openai"`` for a client built with openai 3.x's ``provider=`` option (``"bedrock-openai"``
for ``openai.providers.bedrock(...)``, ``"vertex-openai"`` for ``openai.providers.vertex(...)``).

What the caller observes does not change:

- return values are the SDK's own objects (``ChatCompletion``, ``Stream``, the stream managers
  with ``get_final_completion()`` / ``get_final_response()`` / text deltas);
- the caller's arguments are never modified; for streamed chat completions the wrapper asks for
  ``stream_options.include_usage`` when the caller did not say, and hides the extra usage-only
  chunk from them - except where the server refuses the parameter: not at all on Azure API
  versions before 2024-09-01-preview, and a server answering 400 about ``stream_options`` is
  asked once more without it (the caller gets that answer) and not asked again by the client
  or its ``copy()``/``with_options()`` children;
- a provider exception is recorded (``error``) and re-raised as the same object; recording
  problems are logged on the ``voker`` logger and never raised.

Streams are recorded once: when exhausted, on an error, when the caller breaks out of the loop,
when closed (``close()``, leaving ``with``, a stream manager's exit), or when garbage-collected;
``latency_ms`` runs to the last chunk. A returned stream is the SDK's ``Stream``/``AsyncStream``
object, its class swapped for a same-named subclass that notices a loop left early (see
``voker_core.ai._streams``); ``isinstance`` checks and every attribute are unchanged.

Limits, precisely:

- ``with_raw_response``: recorded in full (the wrapper calls the response's cached ``parse()``,
  so the caller's ``parse()`` returns the same object - for streams, the observed stream). A
  caller who reads the raw body of a *stream* instead of ``parse()`` gets an event without
  output or usage, sent when the response is closed or collected.
- ``with_streaming_response``: streams as above; a non-streamed response is recorded when its
  context manager closes it, with the output if the caller read the body, else without.
- Streamed chat completions made through either raw wrapper are not given
  ``include_usage`` (the caller would see the extra chunk in the raw body): no usage then.
- ``responses.stream(response_id=...)`` re-reads an existing response: not an LLM call, not
  recorded.
- Type hints: ``create`` has fully typed overloads (every SDK argument plus the ``voker_*``
  keywords, the SDK's return types); ``parse``/``stream`` name the ``voker_*`` keywords and the
  response-format argument (so ``parsed`` keeps its type) and take the rest as ``**kwargs``;
  the constructors complete the SDK's options plus ``voker_client``; the ``with_raw_response``
  variants accept ``voker_*`` at run time but keep the SDK's hints.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

try:
    import openai
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "voker_core.ai.provider_openai needs the OpenAI SDK: "
        "pip install 'voker-integrations[openai]'"
    ) from exc

from voker_core.ai._openai._calls import StreamUsage
from voker_core.ai._openai._chat import AsyncBeta, AsyncChat, Beta, Chat
from voker_core.ai._openai._responses import AsyncResponses, Responses
from voker_core.context import check_client

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from voker_core.ai._openai._typing import (
        AsyncAzureClientOptions,
        AsyncClientOptions,
        AzureClientOptions,
        SyncClientOptions,
    )
    from voker_core.client import VokerClient

    cached_property = property
else:
    from functools import cached_property

__all__ = ["AsyncAzureOpenAI", "AsyncOpenAI", "AzureOpenAI", "OpenAI"]


# Azure's API versions are dated ("2024-06-01", "2024-08-01-preview"); the undated ones
# ("preview", "latest", "v1") are the newest.
_AZURE_VERSION_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# The first Azure API version that accepts stream_options (older ones answer 400).
_AZURE_STREAM_OPTIONS_SINCE = "2024-09-01"


def _azure_accepts_stream_options(api_version: str | None) -> bool:
    """Whether an Azure OpenAI API version accepts ``stream_options`` (2024-09-01-preview and
    later, and the undated versions)."""
    dated = _AZURE_VERSION_DATE.match(api_version or "")
    return dated is None or dated.group() >= _AZURE_STREAM_OPTIONS_SINCE


class _Recording:
    """What the four clients share: the Voker client, the provider label, whether to ask the
    server for stream usage, and keeping them across ``copy()``."""

    _voker_client: VokerClient | None
    _voker_provider = "openai"
    _voker_stream_usage: StreamUsage

    def _voker_init(self, voker_client: VokerClient | None) -> None:
        """Before the SDK's ``__init__``: a wrong ``voker_client`` fails first."""
        self._voker_client = check_client(voker_client, "voker_client")

    def _voker_configured(self) -> None:
        """Run after the SDK's ``__init__`` (which sets what this reads): the provider label
        and whether to ask for stream usage, worked out once per client, not per call."""
        # openai 3.x's provider=openai.providers.bedrock(...)/vertex(...): OpenAI's API on
        # another cloud, billed there. Its runtime names it; older SDKs have no such option.
        hosted = getattr(getattr(self, "_provider_runtime", None), "name", None)
        if isinstance(hosted, str) and hosted:
            self._voker_provider = f"{hosted}-openai"
        self._voker_stream_usage = StreamUsage(ask=self._voker_server_takes_stream_options())

    def _voker_server_takes_stream_options(self) -> bool:
        """Whether the server is expected to accept ``stream_options`` (if it refuses after
        all, the call is repeated without it and the client stops asking)."""
        return True

    def _voker_server(self) -> tuple[str, str | None]:
        """Which server (and, on Azure, which API version) this client talks to."""
        return str(cast(Any, self).base_url), getattr(self, "_api_version", None)

    if not TYPE_CHECKING:
        # Run time only, so that type checkers keep the SDK's exact ``copy`` signature.
        def copy(self, *args: Any, **kwargs: Any) -> Any:
            copied = super().copy(*args, **kwargs)
            copied._voker_client = self._voker_client
            if copied._voker_server() == self._voker_server():
                # The same server: what one learns of its stream_options holds for both (a
                # with_options() per call must not meet a refusal per call).
                copied._voker_stream_usage = self._voker_stream_usage
            return copied

        # The SDK binds ``with_options = copy`` in its own class body: re-bind to ours.
        with_options = copy


class _AzureRecording(_Recording):
    """What the two Azure clients add: their label, and their API version's stream_options."""

    _voker_provider = "azure-openai"

    def _voker_server_takes_stream_options(self) -> bool:
        return _azure_accepts_stream_options(getattr(self, "_api_version", None))


class OpenAI(_Recording, openai.OpenAI):
    """``openai.OpenAI`` recording LLM calls; takes the SDK's arguments plus ``voker_client=``."""

    def __init__(
        self, *, voker_client: VokerClient | None = None, **kwargs: Unpack[SyncClientOptions]
    ) -> None:
        self._voker_init(voker_client)
        super().__init__(**kwargs)
        self._voker_configured()

    @cached_property
    def chat(self) -> Chat:
        return Chat(self)

    @cached_property
    def beta(self) -> Beta:
        return Beta(self)

    @cached_property
    def responses(self) -> Responses:
        """Create and manage model responses (recorded)."""
        return Responses(self)


class AsyncOpenAI(_Recording, openai.AsyncOpenAI):
    """``openai.AsyncOpenAI`` recording LLM calls; the SDK's arguments plus ``voker_client=``."""

    def __init__(
        self, *, voker_client: VokerClient | None = None, **kwargs: Unpack[AsyncClientOptions]
    ) -> None:
        self._voker_init(voker_client)
        super().__init__(**kwargs)
        self._voker_configured()

    @cached_property
    def chat(self) -> AsyncChat:
        return AsyncChat(self)

    @cached_property
    def beta(self) -> AsyncBeta:
        return AsyncBeta(self)

    @cached_property
    def responses(self) -> AsyncResponses:
        """Create and manage model responses (recorded)."""
        return AsyncResponses(self)


class AzureOpenAI(_AzureRecording, openai.AzureOpenAI):
    """``openai.AzureOpenAI`` recording LLM calls; the SDK's arguments plus ``voker_client=``."""

    def __init__(
        self, *, voker_client: VokerClient | None = None, **kwargs: Unpack[AzureClientOptions]
    ) -> None:
        self._voker_init(voker_client)
        super().__init__(**cast(Any, kwargs))  # the SDK overloads on which are given
        self._voker_configured()

    @cached_property
    def chat(self) -> Chat:
        return Chat(self)

    @cached_property
    def beta(self) -> Beta:
        return Beta(self)

    @cached_property
    def responses(self) -> Responses:
        """Create and manage model responses (recorded)."""
        return Responses(self)


class AsyncAzureOpenAI(_AzureRecording, openai.AsyncAzureOpenAI):
    """``openai.AsyncAzureOpenAI`` recording LLM calls; the SDK's arguments plus ``voker_client=``."""

    def __init__(
        self, *, voker_client: VokerClient | None = None, **kwargs: Unpack[AsyncAzureClientOptions]
    ) -> None:
        self._voker_init(voker_client)
        super().__init__(**cast(Any, kwargs))  # the SDK overloads on which are given
        self._voker_configured()

    @cached_property
    def chat(self) -> AsyncChat:
        return AsyncChat(self)

    @cached_property
    def beta(self) -> AsyncBeta:
        return AsyncBeta(self)

    @cached_property
    def responses(self) -> AsyncResponses:
        """Create and manage model responses (recorded)."""
        return AsyncResponses(self)
