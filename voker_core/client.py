"""``VokerClient``: report events without ever waiting on Voker.

    import voker_core

    client = voker_core.VokerClient()            # VOKER_API_KEY / VOKER_BASE_URL from the env
    client.agents.create(agent_name="support-bot", description="Answers tickets")
    with voker_core.context(session="conv-42", agent="support-bot", person="user-7"):
        client.events.create(event_name="feedback", properties={"score": 5})
    client.flush()                                # optional: close() at exit does it too

Every method validates its arguments (``TypeError``/``ValueError`` at once), copies them, puts
them on a queue and returns; a background worker delivers them (see :mod:`voker_core._delivery`
for ordering, retries and bounds). Delivery problems are logged on the ``voker`` logger and
counted in :attr:`VokerClient.stats`, never raised.

Most code uses the process-wide default client: :func:`configure` sets it, :func:`get_client`
returns it (creating it from the environment on first use). Provider wrappers and plug-ins use it
unless handed a client, so a process runs one delivery pool (at most ``max_concurrency``
threads, none while idle) however many wrapped clients it creates.

Without an API key (or with ``enabled=False``) the client is *disabled*: calls are still
validated, then discarded, and one warning is logged.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Unpack

from voker_core._delivery import (
    Delivery,
    DeliveryStats,
    agent_path,
    agent_versions_path,
    person_path,
)
from voker_core._snapshot import snapshot
from voker_core.config import ClientOptions, ConfigureOptions, Settings
from voker_core.context import current_context, version_for

__all__ = ["DeliveryStats", "VokerClient", "configure", "get_client"]

logger = logging.getLogger("voker")

_EMPTY_STATS = DeliveryStats()


def _name(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if not value or value.isspace():
        raise ValueError(f"{name} must not be empty")
    # The string itself: str() of a (str, Enum) member is "Agents.SUPPORT", not its value.
    return str.__str__(value)


def _optional_name(value: Any, name: str) -> str | None:
    return None if value is None else _name(value, name)


def _optional_text(value: Any, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a string or None, got {type(value).__name__}")
    return None if value is None else str.__str__(value)


def _properties(value: Any, name: str = "properties") -> Any:
    if value is None:
        return {}
    if type(value) is not dict and not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a dict, got {type(value).__name__}")
    return snapshot(value)


class _Events:
    """``client.events``."""

    __slots__ = ("_client",)

    def __init__(self, client: VokerClient) -> None:
        self._client = client

    def create(
        self,
        *,
        event_name: str,
        properties: Mapping[str, Any] | None = None,
        session: str | None = None,
        agent: str | None = None,
        agent_version: str | None = None,
        person: str | None = None,
    ) -> None:
        """Queue an event. ``session``, ``agent``, ``agent_version`` and ``person`` default to the
        current :func:`voker_core.context`; a session is required one way or the other
        (``TypeError`` otherwise). The context's ``properties`` are merged under ``properties``
        (explicit keys win). Returns at once; delivery happens in the background.

        The context's ``agent_version`` applies only to the context's agent: an explicit
        ``agent=`` naming another agent, without ``agent_version=``, is filed under that agent's
        default version (:func:`voker_core.context.version_for`).
        """
        # The fast path skips the call for the usual plain, non-blank string; isspace() is
        # needed too, so that "  " fails here like every other name rather than at the server.
        if type(event_name) is not str or not event_name or event_name.isspace():
            event_name = _name(event_name, "event_name")
        props = _properties(properties)
        ctx = current_context()
        if ctx.properties:
            # The context's properties are a shallow copy whose values the application may still
            # mutate: snapshot them too, as the llm recorder does.
            props = {**snapshot(ctx.properties), **props}
        if session is None:
            session = ctx.session
            if session is None:
                raise TypeError(
                    "events.create() needs a session: pass session=... or call it inside "
                    "voker_core.context(session=...)"
                )
        agent_version = version_for(agent, agent_version, ctx)
        if agent is None:
            agent = ctx.agent
        if person is None and ctx.has_person:
            person = _resolve_person(ctx)
        session = _name(session, "session")
        if agent is not None:
            agent = _name(agent, "agent")
        if agent_version is not None:
            agent_version = _name(agent_version, "agent_version")
            if agent is None:
                raise ValueError("agent_version needs an agent: pass agent=... too")
        if person is not None:
            person = _name(person, "person")
        delivery = self._client._delivery
        if delivery is not None:
            delivery.submit_event(event_name, props, session, agent, agent_version, person)


def _resolve_person(ctx: Any) -> str | None:
    try:
        return ctx.resolve_person()  # type: ignore[no-any-return]
    except Exception:
        # The application's person callable failed: report the event without a person rather
        # than raise into the caller.
        logger.warning("voker: resolving the context's person failed", exc_info=True)
        return None


class _People:
    """``client.people``."""

    __slots__ = ("_client",)

    def __init__(self, client: VokerClient) -> None:
        self._client = client

    def create(self, *, person_id: str, properties: Mapping[str, Any] | None = None) -> None:
        """Queue the creation of a person (a no-op on the server if it exists)."""
        person_id = _name(person_id, "person_id")
        body: dict[str, Any] = {"person_id": person_id}
        if properties is not None:
            body["properties"] = _properties(properties)
        delivery = self._client._delivery
        if delivery is not None:
            delivery.submit_write(
                "person", person_id, "PUT", "/api/v1/people", body, "people.create"
            )

    def update(self, *, person_id: str, properties: Mapping[str, Any]) -> None:
        """Queue a merge of ``properties`` into the person's stored properties (delivered after
        any earlier ``people.create`` of the same person)."""
        person_id = _name(person_id, "person_id")
        if properties is None:
            raise TypeError("people.update() needs properties (a dict)")
        body = {"properties": _properties(properties)}
        delivery = self._client._delivery
        if delivery is not None:
            delivery.submit_write(
                "person", person_id, "PUT", person_path(person_id), body, "people.update"
            )


class _Agents:
    """``client.agents``."""

    __slots__ = ("_client",)

    def __init__(self, client: VokerClient) -> None:
        self._client = client

    def create(self, *, agent_name: str, description: str | None = None) -> None:
        """Queue the creation of an agent (a no-op on the server if it exists)."""
        agent_name = _name(agent_name, "agent_name")
        body: dict[str, Any] = {"agent_name": agent_name}
        if _optional_text(description, "description") is not None:
            body["description"] = description
        delivery = self._client._delivery
        if delivery is not None:
            delivery.submit_write("agent", agent_name, "PUT", agent_path(), body, "agents.create")


class _AgentVersions:
    """``client.agent_versions``."""

    __slots__ = ("_client",)

    def __init__(self, client: VokerClient) -> None:
        self._client = client

    def create(
        self, *, agent_name: str, agent_version_name: str, description: str | None = None
    ) -> None:
        """Queue the creation of a version of an agent (delivered after any earlier
        ``agents.create`` of that agent)."""
        agent_name = _name(agent_name, "agent_name")
        version = _name(agent_version_name, "agent_version_name")
        body: dict[str, Any] = {"agent_version_name": version}
        if _optional_text(description, "description") is not None:
            body["description"] = description
        delivery = self._client._delivery
        if delivery is not None:
            delivery.submit_write(
                "agent",
                agent_name,
                "PUT",
                agent_versions_path(agent_name),
                body,
                "agent_versions.create",
            )


class VokerClient:
    """Queue writes to Voker and deliver them from a background worker.

    Options (see :class:`voker_core.config.Settings`; explicit > environment > default):
    ``api_key``, ``base_url``, ``enabled``, ``capture_content``, ``before_send``,
    ``max_queue_size``, ``flush_timeout``, ``max_event_bytes``, ``debug``, ``timeout``,
    ``max_retries``, ``max_concurrency``. An unknown option raises ``TypeError``, a bad value
    ``TypeError``/``ValueError``, both naming the option.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        self.settings = Settings.resolve(api_key=api_key, base_url=base_url, **options)
        self._delivery: Delivery | None = None
        if self.settings.debug:
            _enable_debug_logging()
        if not self.settings.enabled:
            logger.debug("voker: VokerClient disabled (enabled=False); events are discarded")
        elif not self.settings.api_key:
            logger.warning(
                "voker: no API key (set VOKER_API_KEY or pass api_key=); Voker events are discarded"
            )
        else:
            self._delivery = Delivery(self.settings)
        self.events = _Events(self)
        self.people = _People(self)
        self.agents = _Agents(self)
        self.agent_versions = _AgentVersions(self)

    @property
    def enabled(self) -> bool:
        """Whether writes are delivered (an API key is set and ``enabled`` is true)."""
        return self._delivery is not None

    @property
    def capture_content(self) -> bool:
        """Whether ``llm`` events keep their inputs and outputs."""
        return self.settings.capture_content

    @property
    def stats(self) -> DeliveryStats:
        """Delivery counters (queued, sent, retried, dropped, failed, pending, ...)."""
        return self._delivery.stats() if self._delivery is not None else _EMPTY_STATS

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything queued before this call is delivered or dropped, for at most
        ``timeout`` seconds (default ``flush_timeout``). Returns False if time ran out."""
        if self._delivery is None:
            return True
        return self._delivery.flush(self.settings.flush_timeout if timeout is None else timeout)

    def close(self, timeout: float | None = None) -> None:
        """Flush (for at most ``timeout`` seconds, default ``flush_timeout``), then stop the
        worker. Writes still queued then are dropped and counted. Later calls are discarded.

        Runs automatically at interpreter exit.
        """
        if self._delivery is not None:
            self._delivery.close(self.settings.flush_timeout if timeout is None else timeout)

    def __enter__(self) -> VokerClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "enabled" if self.enabled else "disabled"
        return f"VokerClient(base_url={self.settings.base_url!r}, {state})"


def _enable_debug_logging() -> None:
    """``debug=True``: make the ``voker`` logger show DEBUG records, even in an application that
    configured no logging at all."""
    if logger.getEffectiveLevel() > logging.DEBUG:
        logger.setLevel(logging.DEBUG)
    if not logger.hasHandlers():
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logger.addHandler(handler)


# --- the process-wide default client ------------------------------------------------------------

_default: VokerClient | None = None
_default_lock = threading.Lock()


def get_client() -> VokerClient:
    """The process-wide client: the one :func:`configure` set, else one built from the
    environment on first use (thread-safe)."""
    global _default
    client = _default
    if client is None:
        with _default_lock:
            client = _default
            if client is None:
                client = _default = VokerClient()
    return client


def configure(**options: Unpack[ConfigureOptions]) -> VokerClient:
    """Create the process-wide client from ``options`` (as :class:`VokerClient` takes them) and
    return it. A previous default client is closed (its queue flushed, bounded by its
    ``flush_timeout``)."""
    global _default
    client = VokerClient(**options)
    with _default_lock:
        previous, _default = _default, client
    if previous is not None and previous is not client:
        previous.close()
    return client


def _reset_lock_after_fork() -> None:
    global _default_lock
    _default_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_lock_after_fork)
