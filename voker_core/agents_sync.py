"""Agents declared in a framework's settings: validated once, registered in the background.

Django (``settings.VOKER["AGENTS"]``) and Flask (``app.config["VOKER_AGENTS"]``) share one shape,
so they share this parser and registrar::

    AGENTS = {
        "support-bot": {
            "description": "Answers support questions",
            "versions": {"v1": "first prompt", "v2": None},   # version name -> description
        },
        "billing-bot": {"description": "Explains invoices"},   # no versions
        "triage-bot": None,                                    # just the name
    }

    specs = parse_agents(AGENTS, setting="VOKER_AGENTS")   # ConfigurationError on a bad shape
    register_agents(client, specs)                          # enqueues; never blocks, never raises

A JSON string of that mapping is accepted too (for settings read from the environment).
``register_agents`` only enqueues ``agents.create`` and then ``agent_versions.create`` on a
:class:`~voker_core.client.VokerClient`, whose worker sends them in that order off the caller's
thread (creating something that exists is a no-op on the server).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from voker_core.errors import ConfigurationError

if TYPE_CHECKING:
    from voker_core.client import VokerClient

__all__ = ["AgentSpec", "parse_agents", "register_agents"]

logger = logging.getLogger("voker.agents")

_AGENT_KEYS = frozenset({"description", "versions"})


@dataclass(frozen=True)
class AgentSpec:
    """One agent to register, with its versions as ``(name, description)`` pairs."""

    name: str
    description: str | None = None
    versions: tuple[tuple[str, str | None], ...] = ()


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{where}: names must be non-empty strings, got {value!r}")
    return value


def _description(value: Any, where: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(
            f"{where}: a description must be a string or None, got {type(value).__name__}"
        )
    return value


def _versions(value: Any, where: str) -> tuple[tuple[str, str | None], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"{where} must be a dict of version name -> description, got {type(value).__name__}"
        )
    return tuple(
        (_name(name, where), _description(desc, f"{where}[{name!r}]"))
        for name, desc in value.items()
    )


def parse_agents(value: Any, *, setting: str = "AGENTS") -> tuple[AgentSpec, ...]:
    """Validate an agents setting and return its specs (``()`` for ``None`` or empty).

    Raises :class:`~voker_core.errors.ConfigurationError` naming ``setting`` and the offending
    entry when the shape is wrong.
    """
    if value is None:
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError as exc:
            raise ConfigurationError(f"{setting}: not valid JSON ({exc})") from None
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"{setting} must be a dict of agent name -> {{'description': ..., 'versions': ...}}, "
            f"got {type(value).__name__}"
        )
    specs = []
    for name, body in value.items():
        where = f"{setting}[{name!r}]"
        _name(name, setting)
        if body is None:
            body = {}
        if not isinstance(body, Mapping):
            raise ConfigurationError(
                f"{where} must be a dict with 'description' and 'versions', "
                f"got {type(body).__name__}"
            )
        unknown = set(body) - _AGENT_KEYS
        if unknown:
            raise ConfigurationError(
                f"{where}: unknown key(s) {sorted(map(str, unknown))}; "
                "expected 'description' and 'versions'"
            )
        specs.append(
            AgentSpec(
                name=name,
                description=_description(body.get("description"), f"{where}['description']"),
                versions=_versions(body.get("versions"), f"{where}['versions']"),
            )
        )
    return tuple(specs)


def register_agents(client: VokerClient, specs: tuple[AgentSpec, ...]) -> None:
    """Enqueue the creation of every agent and then its versions. Never raises."""
    for spec in specs:
        try:
            client.agents.create(agent_name=spec.name, description=spec.description)
            for version, description in spec.versions:
                client.agent_versions.create(
                    agent_name=spec.name, agent_version_name=version, description=description
                )
        except Exception:
            logger.warning("voker: could not register agent %r (ignored)", spec.name, exc_info=True)
