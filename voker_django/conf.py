"""``settings.VOKER``, read and validated in one place.

Every other module of ``voker_django`` reads its options through :func:`get_settings`, so a typo
or a bad value is reported once, with the key it concerns::

    VOKER = {
        "API_KEY": "vk-...",                 # else VOKER_API_KEY
        "BASE_URL": "https://evals.voker.ai",  # else VOKER_BASE_URL
        "AGENT": "support-bot",              # default agent of every request
        "AGENT_VERSION": "v1",
        "AGENTS": {"support-bot": {"description": "Answers support questions",
                                   "versions": {"v1": "first prompt"}}},
        "SESSION_HEADER": "X-Voker-Session",
        "SESSION_ID": "myapp.voker.session_id",        # callable(request) -> str | None
        "PERSON_ID": "myapp.voker.person_id",          # callable(user) -> str | None
        "PERSON_PROPERTIES": "myapp.voker.person_properties",  # callable(user) -> dict
        "CAPTURE_CONTENT": True,             # else VOKER_CAPTURE_CONTENT
        "CELERY": False,                     # instrument the Celery app (see apps.py)
    }

Callables may be given as objects or as dotted import paths; they must be synchronous (they run
where the request's user and session are read, sync code included; an ``async def`` would give a
coroutine, not an id). Bad values raise
:class:`~django.core.exceptions.ImproperlyConfigured` naming the key, e.g.
``settings.VOKER["AGENTS"]["support-bot"]["versions"] must be a dict``.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from voker_core.agents_sync import AgentSpec, parse_agents
from voker_core.config import parse_bool
from voker_core.errors import ConfigurationError

__all__ = ["DEFAULT_SESSION_HEADER", "VokerSettings", "get_settings", "load", "returned"]

logger = logging.getLogger("voker.django")

DEFAULT_SESSION_HEADER = "X-Voker-Session"

KNOWN_KEYS = frozenset(
    {
        "API_KEY",
        "BASE_URL",
        "AGENT",
        "AGENT_VERSION",
        "AGENTS",
        "SESSION_HEADER",
        "SESSION_ID",
        "PERSON_ID",
        "PERSON_PROPERTIES",
        "CAPTURE_CONTENT",
        "CELERY",
    }
)


@dataclass(frozen=True)
class VokerSettings:
    """The validated ``settings.VOKER``."""

    api_key: str | None = None
    base_url: str | None = None
    capture_content: bool | None = None
    agent: str | None = None
    agent_version: str | None = None
    agents: tuple[AgentSpec, ...] = ()
    session_header: str = DEFAULT_SESSION_HEADER
    session_id: Callable[..., Any] | None = None
    person_id: Callable[..., Any] | None = None
    person_properties: Callable[..., Any] | None = None
    celery: bool = False

    @property
    def session_meta_key(self) -> str:
        """The ``request.META`` key of :attr:`session_header` (``HTTP_X_VOKER_SESSION``)."""
        return "HTTP_" + self.session_header.upper().replace("-", "_")

    @property
    def client_options(self) -> dict[str, Any]:
        """Options for ``voker_core.configure`` given in settings (absent ones come from env)."""
        options = {
            "api_key": self.api_key,
            "base_url": self.base_url,
            "capture_content": self.capture_content,
        }
        return {name: value for name, value in options.items() if value is not None}


def _key(*path: str) -> str:
    return "settings.VOKER" + "".join(f"[{part!r}]" for part in path)


def _name(value: Any, *path: str, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ImproperlyConfigured(f"{_key(*path)} must be a non-empty string, got {value!r}")
    return value


def _callable(value: Any, *path: str) -> Callable[..., Any] | None:
    if value is None:
        return None
    target: object = value
    if isinstance(value, str):
        try:
            target = import_string(value)
        except ImportError as exc:
            raise ImproperlyConfigured(f"{_key(*path)}: cannot import {value!r} ({exc})") from exc
    if not callable(target):
        raise ImproperlyConfigured(
            f"{_key(*path)} must be a callable or a dotted path to one, got {value!r}"
        )
    if inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(
        getattr(target, "__call__", None)  # noqa: B004 - an object with an async __call__
    ):
        raise ImproperlyConfigured(
            f"{_key(*path)} must be a synchronous function, got the async function {value!r} "
            "(it is called from synchronous code; use a plain def, with Django's sync ORM)"
        )
    return target


def returned(value: Any, key: str) -> Any:
    """What the settings' callable ``key`` returned, or ``None`` for an awaitable.

    :func:`load` refuses ``async def`` callables, but a plain function may still return a
    coroutine; its ``repr`` must never become an id. It is closed (no "never awaited" warning).
    """
    if not inspect.isawaitable(value):
        return value
    close = getattr(value, "close", None)
    if callable(close):
        close()
    logger.warning("voker: %s returned an awaitable, not a value; ignored", _key(key))
    return None


def _agents(value: Any) -> tuple[AgentSpec, ...]:
    try:
        return parse_agents(value, setting=_key("AGENTS"))
    except ConfigurationError as exc:
        raise ImproperlyConfigured(str(exc)) from None


def _bool(value: Any, key: str) -> bool | None:
    if value is None:
        return None
    try:
        return parse_bool(value, name=_key(key))
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from None


def load(raw: Any) -> VokerSettings:
    """Validate a ``VOKER`` settings dict (``None`` means "not set": all defaults)."""
    if raw is None:
        return VokerSettings()
    if not isinstance(raw, Mapping):
        raise ImproperlyConfigured(f"settings.VOKER must be a dict, got {type(raw).__name__}")
    unknown = set(raw) - KNOWN_KEYS
    if unknown:
        raise ImproperlyConfigured(
            f"settings.VOKER has unknown key(s) {sorted(unknown)}; valid keys: {sorted(KNOWN_KEYS)}"
        )
    base_url = _name(raw.get("BASE_URL"), "BASE_URL")
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        raise ImproperlyConfigured(
            f"{_key('BASE_URL')} must start with http:// or https://, got {base_url!r}"
        )
    header = _name(raw.get("SESSION_HEADER", DEFAULT_SESSION_HEADER), "SESSION_HEADER")
    assert header is not None
    if any(ch.isspace() or ch in ':()<>@,;\\"/[]?={}' for ch in header):
        raise ImproperlyConfigured(
            f"{_key('SESSION_HEADER')} is not a valid header name: {header!r}"
        )
    agent = _name(raw.get("AGENT"), "AGENT")
    agent_version = _name(raw.get("AGENT_VERSION"), "AGENT_VERSION")
    if agent_version is not None and agent is None:
        raise ImproperlyConfigured(f"{_key('AGENT_VERSION')} is set but {_key('AGENT')} is not")
    return VokerSettings(
        api_key=_name(raw.get("API_KEY"), "API_KEY"),
        base_url=base_url.rstrip("/") if base_url else None,
        capture_content=_bool(raw.get("CAPTURE_CONTENT"), "CAPTURE_CONTENT"),
        agent=agent,
        agent_version=agent_version,
        agents=_agents(raw.get("AGENTS")),
        session_header=header,
        session_id=_callable(raw.get("SESSION_ID"), "SESSION_ID"),
        person_id=_callable(raw.get("PERSON_ID"), "PERSON_ID"),
        person_properties=_callable(raw.get("PERSON_PROPERTIES"), "PERSON_PROPERTIES"),
        celery=bool(_bool(raw.get("CELERY"), "CELERY")),
    )


_cached: VokerSettings | None = None
_lock = threading.Lock()


def get_settings() -> VokerSettings:
    """The validated ``settings.VOKER`` (read once; re-read after ``override_settings``)."""
    global _cached
    cached = _cached
    if cached is None:
        from django.conf import settings

        with _lock:
            cached = _cached = load(getattr(settings, "VOKER", None))
    return cached


@receiver(setting_changed)
def _forget(*, setting: str, **kwargs: Any) -> None:
    global _cached
    if setting == "VOKER":
        _cached = None
