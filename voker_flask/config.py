"""The Flask extension's configuration, read and validated in one place.

Keys are read from ``app.config`` and, when absent there, from the process environment under the
same name (so ``VOKER_API_KEY=... flask run`` works without code)::

    VOKER_API_KEY          API key (app config: this app gets its own client; else the default)
    VOKER_BASE_URL         Voker URL, e.g. the local devserver's
    VOKER_AGENT            agent of every request of this app (views and blueprints may override)
    VOKER_AGENT_VERSION    its version (needs VOKER_AGENT)
    VOKER_AGENTS           agents (and versions) to register at start-up; see voker_core.agents_sync
    VOKER_SESSION_HEADER   request header carrying a session id (default "X-Voker-Session")
    VOKER_CAPTURE_CONTENT  false: llm events keep metadata only (gives this app its own client)
    VOKER_CELERY           true: instrument Celery too (voker_core.integrations.celery)

A blank (whitespace-only) environment value counts as unset - a ``VOKER_AGENT=`` line in a .env
or compose template means "no agent", as the core reads a blank ``VOKER_API_KEY`` or
``VOKER_BASE_URL``. A value in ``app.config`` was written by code, so a blank one there is an
error, like any other bad value: :class:`voker_core.ConfigurationError` from ``init_app``, naming
the key, so a typo fails at start-up and not in the middle of a request.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from voker_core.agents_sync import AgentSpec, parse_agents
from voker_core.config import Settings, parse_bool
from voker_core.errors import ConfigurationError

__all__ = ["DEFAULT_SESSION_HEADER", "KNOWN_KEYS", "FlaskSettings", "read_config"]

logger = logging.getLogger("voker.flask")

DEFAULT_SESSION_HEADER = "X-Voker-Session"

KNOWN_KEYS = frozenset(
    {
        "VOKER_API_KEY",
        "VOKER_BASE_URL",
        "VOKER_AGENT",
        "VOKER_AGENT_VERSION",
        "VOKER_AGENTS",
        "VOKER_SESSION_HEADER",
        "VOKER_CAPTURE_CONTENT",
        "VOKER_CELERY",
    }
)

# Options that make an app need a client of its own when set in its config.
_CLIENT_KEYS = {
    "VOKER_API_KEY": "api_key",
    "VOKER_BASE_URL": "base_url",
    "VOKER_CAPTURE_CONTENT": "capture_content",
}

# RFC 9110 token characters: what a header name may consist of.
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


@dataclass(frozen=True)
class FlaskSettings:
    """The validated Voker settings of one Flask app."""

    agent: str | None = None
    agent_version: str | None = None
    agents: tuple[AgentSpec, ...] = ()
    session_header: str = DEFAULT_SESSION_HEADER
    celery: bool = False
    # Client options set in the app's own config (api_key / base_url / capture_content); empty
    # means "use the process-wide default client".
    client_options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def wants_own_client(self) -> bool:
        return bool(self.client_options)


def _lookup(config: Mapping[str, Any], environ: Mapping[str, str], key: str) -> Any:
    """``config[key]``, else the environment's value; a blank environment value is unset."""
    value = config.get(key)
    if value is None:
        value = environ.get(key)
        if value is not None and not value.strip():
            return None
    return value


def _optional_name(value: Any, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{key} must be a non-empty string, got {value!r}")
    return value


def _bool(value: Any, key: str, default: bool) -> bool:
    if value is None:
        return default
    try:
        return parse_bool(value, name=key)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


def read_config(
    config: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> FlaskSettings:
    """Validate the ``VOKER_*`` keys of a Flask config (env fallbacks) into :class:`FlaskSettings`."""
    env = os.environ if environ is None else environ

    unknown = sorted(
        k for k in config if isinstance(k, str) and k.startswith("VOKER_") and k not in KNOWN_KEYS
    )
    if unknown:
        logger.warning(
            "voker: ignoring unknown Flask config key(s) %s (known: %s)",
            ", ".join(unknown),
            ", ".join(sorted(KNOWN_KEYS)),
        )

    agent = _optional_name(_lookup(config, env, "VOKER_AGENT"), "VOKER_AGENT")
    version = _optional_name(_lookup(config, env, "VOKER_AGENT_VERSION"), "VOKER_AGENT_VERSION")
    if version is not None and agent is None:
        raise ConfigurationError("VOKER_AGENT_VERSION is set but VOKER_AGENT is not")

    header = _lookup(config, env, "VOKER_SESSION_HEADER")
    if header is None:
        header = DEFAULT_SESSION_HEADER
    if not isinstance(header, str) or not _HEADER_NAME.match(header):
        raise ConfigurationError(
            f"VOKER_SESSION_HEADER must be an HTTP header name such as {DEFAULT_SESSION_HEADER!r},"
            f" got {header!r}"
        )

    # Only keys the app sets itself give it its own client; the environment configures the
    # process-wide default client already.
    explicit: dict[str, Any] = {}
    for key, option in _CLIENT_KEYS.items():
        if config.get(key) is None:
            continue
        if key == "VOKER_API_KEY" and isinstance(config[key], str) and not config[key].strip():
            # The core reads a blank key as "no key": the app would silently get a disabled
            # client of its own, even with VOKER_API_KEY in the environment.
            raise ConfigurationError(
                "VOKER_API_KEY in app.config is blank: remove it to use the environment's "
                "VOKER_API_KEY, or pass Voker(app, client=VokerClient(enabled=False)) to send "
                "nothing"
            )
        try:  # the core's validation, so the rules exist once
            Settings.resolve(environ={}, **{option: config[key]})
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{key}: {exc}") from None
        explicit[option] = config[key]

    return FlaskSettings(
        agent=agent,
        agent_version=version,
        agents=parse_agents(_lookup(config, env, "VOKER_AGENTS"), setting="VOKER_AGENTS"),
        session_header=header,
        celery=_bool(_lookup(config, env, "VOKER_CELERY"), "VOKER_CELERY", False),
        client_options=explicit,
    )
