"""``ApiClient``: direct, synchronous calls to the Voker HTTP API.

Use it to read records back or when you want to control when requests are sent; application
code that only reports events should prefer the non-blocking :class:`voker_core.VokerClient`.

    >>> from voker_core import ApiClient
    >>> with ApiClient() as api:                        # VOKER_API_KEY from the environment
    ...     agent = api.agents.create(agent_name="support-bot", description="Answers tickets")
    ...     api.agent_versions.create(agent_name="support-bot", agent_version_name="v2")
    ...     print(api.people.get(person_id="user-7").properties)

Every method raises a :class:`voker_core.VokerError` subclass on failure (for example
:class:`~voker_core.AgentNotFoundError`); transient failures (connection errors, timeouts, 429,
502/503/504) are first retried ``max_retries`` times with exponential backoff and jitter.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from voker_core._transport import Transport, encode_path
from voker_core.config import Settings
from voker_core.errors import ConfigurationError, VokerError
from voker_core.fingerprint import fingerprint_payload
from voker_core.serialize import to_jsonable
from voker_core.types import Agent, AgentVersion, Fingerprint, Person

__all__ = ["ApiClient"]


def _require_str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    return str.__str__(value)  # a str subclass (a str Enum member) as the string it holds


def _optional_str(value: Any, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a string or None, got {type(value).__name__}")
    return None if value is None else str.__str__(value)


def _require_dict(value: Any, name: str) -> dict[str, Any]:
    """Check that ``value`` is a mapping and return a JSON-safe copy of it.

    The same conversion ``VokerClient`` applies on its worker (:func:`to_jsonable`: datetimes,
    UUIDs, sets, pydantic models... converted; NaN/Infinity spelled as strings, since ``json``
    would write invalid JSON), so one properties dict works with both clients. No size cap: a
    direct call reports what the server says about a large body.
    """
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a dict, got {type(value).__name__}")
    converted = to_jsonable(value)
    return converted if isinstance(converted, dict) else {"…": converted}


def _as_object(body: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise VokerError(f"Voker API {what} returned an unexpected body: {body!r}", body=body)
    return body


class _Resource:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport


class ApiClientEvents(_Resource):
    """``POST /api/v1/events``."""

    def create(
        self,
        *,
        event_name: str,
        properties: Mapping[str, Any],
        session: str,
        fingerprint_id: str,
        agent: str | None = None,
        agent_version: str | None = None,
        person: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Create an event. Unlike ``VokerClient.events.create`` this needs a ``fingerprint_id``
        (from ``fingerprints.create()``) and sends at once. Returns the server's JSON body.

        An empty ``session`` is rejected by the server with :class:`SessionIdEmptyError`.
        ``idempotency_key`` defaults to a new UUID4, sent unchanged on every retry.
        """
        body: dict[str, Any] = {
            "event_name": _require_str(event_name, "event_name"),
            "properties": _require_dict(properties, "properties"),
            "session": session if isinstance(session, str) else _require_str(session, "session"),
            "fingerprint_id": _require_str(fingerprint_id, "fingerprint_id"),
        }
        for key, value in (("agent", agent), ("agent_version", agent_version), ("person", person)):
            if _optional_str(value, key) is not None:
                body[key] = value
        # One key for every retry of this request, so a retried event is never stored twice.
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        result = self._transport.request(
            "POST", "/api/v1/events", body=body, headers=headers, what="events.create"
        )
        return dict(result) if isinstance(result, Mapping) else {}


class ApiClientPeople(_Resource):
    """``/api/v1/people``."""

    def get(self, *, person_id: str) -> Person:
        """Return the person, or raise :class:`PersonNotFoundError`."""
        path = "/api/v1/people/" + encode_path(_require_str(person_id, "person_id"))
        return Person.from_dict(
            _as_object(self._transport.request("GET", path, what="people.get"), "people.get")
        )

    def create(self, *, person_id: str, properties: Mapping[str, Any] | None = None) -> Person:
        """Create a person (a no-op returning the stored record if it exists)."""
        body: dict[str, Any] = {"person_id": _require_str(person_id, "person_id")}
        if properties is not None:
            body["properties"] = _require_dict(properties, "properties")
        result = self._transport.request("PUT", "/api/v1/people", body=body, what="people.create")
        return Person.from_dict(_as_object(result, "people.create"))

    def update(self, *, person_id: str, properties: Mapping[str, Any]) -> Person:
        """Merge ``properties`` into the stored ones; raise :class:`PersonNotFoundError`."""
        path = "/api/v1/people/" + encode_path(_require_str(person_id, "person_id"))
        body = {"properties": _require_dict(properties, "properties")}
        result = self._transport.request("PUT", path, body=body, what="people.update")
        return Person.from_dict(_as_object(result, "people.update"))


_REQUIRED_FINGERPRINT_KEYS = frozenset({"language", "language_version", "system"})


class ApiClientFingerprints(_Resource):
    """``PUT /api/v1/fingerprints``."""

    def create(self, **payload: Any) -> Fingerprint:
        """Create an anonymous fingerprint for this process.

        The payload describes the runtime (Python version, platform, SDK versions, git facts);
        keyword arguments override or add keys of it. An optional key passed as ``None`` (say
        ``git_branch=None``) is left out of the request, since the API wants absent rather than
        null; ``None`` for a required key (``language``, ``language_version``, ``system``)
        keeps the detected value.
        """
        body = fingerprint_payload()
        for key, value in payload.items():
            if value is not None:
                body[key] = value
            elif key not in _REQUIRED_FINGERPRINT_KEYS:
                body.pop(key, None)
        body = to_jsonable(body)
        result = self._transport.request(
            "PUT", "/api/v1/fingerprints", body=body, what="fingerprints.create"
        )
        return Fingerprint.from_dict(_as_object(result, "fingerprints.create"))


class ApiClientAgents(_Resource):
    """``/api/v1/agents``."""

    def create(self, *, agent_name: str, description: str | None = None) -> Agent:
        """Create an agent (a no-op returning the stored record if it exists)."""
        body: dict[str, Any] = {"agent_name": _require_str(agent_name, "agent_name")}
        if _optional_str(description, "description") is not None:
            body["description"] = description
        result = self._transport.request("PUT", "/api/v1/agents", body=body, what="agents.create")
        return Agent.from_dict(_as_object(result, "agents.create"))

    def get(self, *, agent_name: str) -> Agent:
        """Return the agent, or raise :class:`AgentNotFoundError`."""
        path = "/api/v1/agents/" + encode_path(_require_str(agent_name, "agent_name"))
        return Agent.from_dict(
            _as_object(self._transport.request("GET", path, what="agents.get"), "agents.get")
        )


class ApiClientAgentVersions(_Resource):
    """``/api/v1/agents/{agent_name}/agent-versions``."""

    def create(
        self, *, agent_name: str, agent_version_name: str, description: str | None = None
    ) -> AgentVersion:
        """Create a version under an existing agent (:class:`AgentNotFoundError` otherwise)."""
        path = (
            f"/api/v1/agents/{encode_path(_require_str(agent_name, 'agent_name'))}/agent-versions"
        )
        body: dict[str, Any] = {
            "agent_version_name": _require_str(agent_version_name, "agent_version_name")
        }
        if _optional_str(description, "description") is not None:
            body["description"] = description
        result = self._transport.request("PUT", path, body=body, what="agent_versions.create")
        return AgentVersion.from_dict(_as_object(result, "agent_versions.create"))

    def get(self, *, agent_name: str, agent_version_name: str) -> AgentVersion:
        """Return the version, or raise :class:`AgentNotFoundError` /
        :class:`AgentVersionNotFoundError`."""
        path = "/api/v1/agents/{}/agent-versions/{}".format(
            encode_path(_require_str(agent_name, "agent_name")),
            encode_path(_require_str(agent_version_name, "agent_version_name")),
        )
        result = self._transport.request("GET", path, what="agent_versions.get")
        return AgentVersion.from_dict(_as_object(result, "agent_versions.get"))


class ApiClient:
    """Synchronous client of the Voker HTTP API (see the module docstring for usage).

    Arguments left as ``None`` come from ``VOKER_API_KEY`` / ``VOKER_BASE_URL``. A missing key
    raises :class:`ConfigurationError`. One ``requests.Session`` is kept for the client's life
    (keep-alive); call :meth:`close` or use the client as a context manager to release it.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 10.0,
        max_retries: int = 2,
    ) -> None:
        settings = Settings.resolve(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )
        if not settings.api_key:
            raise ConfigurationError(
                "no Voker API key: pass api_key= or set the VOKER_API_KEY environment variable"
            )
        self.base_url = settings.base_url
        self._transport = Transport(
            api_key=settings.api_key,
            base_url=settings.base_url,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
        )
        self.events = ApiClientEvents(self._transport)
        self.people = ApiClientPeople(self._transport)
        self.fingerprints = ApiClientFingerprints(self._transport)
        self.agents = ApiClientAgents(self._transport)
        self.agent_versions = ApiClientAgentVersions(self._transport)

    def close(self) -> None:
        """Release the pooled connections."""
        self._transport.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ApiClient(base_url={self.base_url!r})"
