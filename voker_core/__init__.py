"""Voker SDK core: the API clients, the context, and the pieces every integration shares.

    import voker_core

    voker_core.configure(api_key="...")          # or VOKER_API_KEY in the environment
    with voker_core.context(session="conv-1", agent="support-bot"):
        ...                                        # wrapped LLM calls record here

See ``voker_core.ai.provider_openai`` (and ``_anthropic``, ``_gemini``) for the drop-in
provider clients.
"""

from typing import TYPE_CHECKING, Any

from voker_core._version import __version__

# Cheap, stdlib-only modules load at once. (``context`` must: importing the submodule
# ``voker_core.context`` later would otherwise rebind the package attribute to the module.)
# ``voker_core.context`` is therefore the context class, not the module: the module's other
# public names are exported here too (``voker_core.AsyncResolver``).
from voker_core.context import (
    AsyncResolver,
    PersonSource,
    SessionSource,
    VokerContext,
    context,
    current_context,
)
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

if TYPE_CHECKING:
    from voker_core.api_client import ApiClient
    from voker_core.client import DeliveryStats, VokerClient, configure, get_client

# The clients (and with them requests) are imported on first use: this package is imported by
# our pytest plugin in every test run of every project that installs us, and by the devserver.
_LAZY = {
    "ApiClient": "voker_core.api_client",
    "DeliveryStats": "voker_core.client",
    "VokerClient": "voker_core.client",
    "configure": "voker_core.client",
    "get_client": "voker_core.client",
}


def __getattr__(name: str) -> Any:
    import importlib

    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'voker_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Agent",
    "AgentNotFoundError",
    "AgentVersion",
    "AgentVersionNotFoundError",
    "ApiClient",
    "AsyncResolver",
    "AuthenticationError",
    "ConfigurationError",
    "DeliveryStats",
    "Fingerprint",
    "FingerprintNotFoundError",
    "NotFoundError",
    "Person",
    "PersonNotFoundError",
    "PersonSource",
    "RateLimitError",
    "ServerError",
    "SessionIdEmptyError",
    "SessionSource",
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
