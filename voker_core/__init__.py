"""Voker SDK core: the API clients, the context, and the pieces every integration shares.

    import voker_core

    voker_core.configure(api_key="...")          # or VOKER_API_KEY in the environment
    with voker_core.context(session="conv-1", agent="support-bot"):
        ...                                        # wrapped LLM calls record here

See ``voker_core.ai.provider_openai`` (and ``_anthropic``, ``_gemini``) for the drop-in
provider clients.
"""

from voker_core._version import __version__
from voker_core.api_client import ApiClient
from voker_core.client import DeliveryStats, VokerClient, configure, get_client
from voker_core.context import VokerContext, context, current_context
from voker_core.errors import (
    AgentNotFoundError,
    AgentVersionNotFoundError,
    AuthenticationError,
    ConfigurationError,
    FingerprintNotFoundError,
    NotFoundError,
    PersonNotFoundError,
    RateLimitError,
    ServerError,
    SessionIdEmptyError,
    ValidationError,
    VokerConnectionError,
    VokerError,
    VokerTimeoutError,
)
from voker_core.types import Agent, AgentVersion, Fingerprint, Person

__all__ = [
    "Agent",
    "AgentNotFoundError",
    "AgentVersion",
    "AgentVersionNotFoundError",
    "ApiClient",
    "AuthenticationError",
    "ConfigurationError",
    "DeliveryStats",
    "Fingerprint",
    "FingerprintNotFoundError",
    "NotFoundError",
    "Person",
    "PersonNotFoundError",
    "RateLimitError",
    "ServerError",
    "SessionIdEmptyError",
    "ValidationError",
    "VokerClient",
    "VokerConnectionError",
    "VokerContext",
    "VokerError",
    "VokerTimeoutError",
    "__version__",
    "configure",
    "context",
    "current_context",
    "get_client",
]
