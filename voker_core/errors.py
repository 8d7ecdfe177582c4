"""Exceptions raised by the Voker SDK.

Every exception derives from :class:`VokerError`, so ``except voker_core.VokerError`` catches them
all. Errors that come from an HTTP response carry ``status_code`` and the decoded response ``body``.

The ``ApiClient`` raises these. The background ``VokerClient`` never raises them into the caller:
it retries, counts and logs delivery problems instead.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AgentNotFoundError",
    "AgentVersionNotFoundError",
    "AuthenticationError",
    "ConfigurationError",
    "FingerprintNotFoundError",
    "NotFoundError",
    "PersonNotFoundError",
    "RateLimitError",
    "ServerError",
    "SessionIdEmptyError",
    "ValidationError",
    "VokerConnectionError",
    "VokerError",
    "VokerTimeoutError",
    "error_from_response",
]


class VokerError(Exception):
    """Base class of every error raised by the Voker SDK."""

    def __init__(self, message: str, *, status_code: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.body = body


class ConfigurationError(VokerError):
    """The SDK is missing required configuration (for example an API key)."""


class AuthenticationError(VokerError):
    """The API key is missing or wrong (HTTP 401 or 403)."""


class NotFoundError(VokerError):
    """The requested record does not exist (HTTP 404)."""


class AgentNotFoundError(NotFoundError):
    """No agent with that name exists (``agent-not-found``)."""


class AgentVersionNotFoundError(NotFoundError):
    """No version with that name exists under the agent (``agent-version-not-found``)."""


class PersonNotFoundError(NotFoundError):
    """No person with that id exists (``person-not-found``)."""


class FingerprintNotFoundError(NotFoundError):
    """The event names a fingerprint the server does not know (``fingerprint-not-found``)."""


class ValidationError(VokerError):
    """The server rejected the request body (HTTP 422)."""


class SessionIdEmptyError(ValidationError):
    """An event was sent with an empty session id (``session-id-empty``)."""


class RateLimitError(VokerError):
    """Too many requests (HTTP 429). ``retry_after`` is the server's hint in seconds, if any."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = 429,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, body=body)
        self.retry_after = retry_after


class ServerError(VokerError):
    """The server failed (HTTP 5xx)."""


class VokerConnectionError(VokerError):
    """The server could not be reached."""


class VokerTimeoutError(VokerConnectionError):
    """The server did not answer within the timeout."""


_NOT_FOUND_KINDS: dict[str, type[NotFoundError]] = {
    "agent-not-found": AgentNotFoundError,
    "agent-version-not-found": AgentVersionNotFoundError,
    "person-not-found": PersonNotFoundError,
    "fingerprint-not-found": FingerprintNotFoundError,
}


def _detail_kind(body: Any) -> tuple[str | None, str | None]:
    """Return ``(type, message)`` from a ``{"detail": {...}}`` error body, when present."""
    if not isinstance(body, dict):
        return None, None
    detail = body.get("detail")
    if isinstance(detail, dict):
        kind = detail.get("type")
        message = detail.get("message") or detail.get("msg")
        return (kind if isinstance(kind, str) else None), (
            message if isinstance(message, str) else None
        )
    if isinstance(detail, str):
        return None, detail
    return None, None


def error_from_response(
    status_code: int, body: Any, *, retry_after: float | None = None, what: str = "request"
) -> VokerError:
    """Build the exception that matches an error response of the Voker API."""
    kind, detail_message = _detail_kind(body)
    message = f"Voker API {what} failed with HTTP {status_code}"
    if kind:
        message += f" ({kind})"
    if detail_message:
        message += f": {detail_message}"
    if status_code in (401, 403):
        return AuthenticationError(
            message + " - check VOKER_API_KEY", status_code=status_code, body=body
        )
    if status_code == 404:
        cls = _NOT_FOUND_KINDS.get(kind or "", NotFoundError)
        return cls(message, status_code=status_code, body=body)
    if status_code == 422:
        if kind == "session-id-empty":
            return SessionIdEmptyError(message, status_code=status_code, body=body)
        return ValidationError(message, status_code=status_code, body=body)
    if status_code == 429:
        return RateLimitError(message, status_code=status_code, body=body, retry_after=retry_after)
    if status_code >= 500:
        return ServerError(message, status_code=status_code, body=body)
    return VokerError(message, status_code=status_code, body=body)
