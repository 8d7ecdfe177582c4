"""Register ``settings.VOKER["AGENTS"]`` (agents and their versions) with Voker.

Two callers: the app's start-up (:func:`register_in_background`: once per process, queued on the
default ``VokerClient``, which sends them off the request path and never raises) and
``manage.py voker_register_agents`` (:func:`register_agents`: synchronous, failures reported).

Which processes register at start-up (:func:`should_register_at_startup`): every process that
serves requests or runs tasks — a WSGI/ASGI server (gunicorn, uvicorn, daphne...), a Celery
worker, a test run — but not a ``manage.py``/``django-admin`` command, except ``runserver``; and
under ``runserver``'s auto-reloader only the child that serves requests (``RUN_MAIN=true``),
not the watching parent. ``voker_register_agents`` registers for itself, synchronously.
Registering is idempotent on the server, so a process that does it again costs two requests.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from voker_core.agents_sync import AgentSpec
from voker_django.conf import VokerSettings

__all__ = [
    "SERVING_COMMANDS",
    "AgentResult",
    "register_agents",
    "register_in_background",
    "should_register_at_startup",
]

logger = logging.getLogger("voker.django")

#: Management commands that serve requests (and so register at start-up).
SERVING_COMMANDS = frozenset({"runserver", "runserver_plus", "testserver"})


@dataclass
class AgentResult:
    """What happened to one agent of ``AGENTS``."""

    agent: str
    agent_number: int | None = None
    versions: dict[str, int | None] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def register_agents(
    agents: Sequence[AgentSpec],
    *,
    api_key: str | None = None,
    base_url: str | None = None,
) -> list[AgentResult]:
    """Create every agent, then its versions, through ``voker_core.ApiClient`` (in order).

    Raises ``voker_core.ConfigurationError`` without an API key; a failing agent is reported in
    its :class:`AgentResult` and the others are still registered.
    """
    from voker_core import ApiClient, VokerError

    results: list[AgentResult] = []
    with ApiClient(api_key=api_key, base_url=base_url) as api:
        for spec in agents:
            result = AgentResult(spec.name)
            results.append(result)
            try:
                created = api.agents.create(agent_name=spec.name, description=spec.description)
                result.agent_number = created.agent_number
                for version, description in spec.versions:
                    made = api.agent_versions.create(
                        agent_name=spec.name, agent_version_name=version, description=description
                    )
                    result.versions[version] = made.agent_version_number
            except VokerError as exc:
                result.error = f"{type(exc).__name__}: {exc}"
    return results


def should_register_at_startup(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    """The start-up rule of the module docstring, decided from ``sys.argv`` and the environment."""
    if not argv:
        return True
    program = os.path.basename(argv[0])
    is_manage = program in ("manage.py", "django-admin", "django-admin.py") or (
        program == "__main__.py" and os.path.basename(os.path.dirname(argv[0])) == "django"
    )
    if not is_manage:
        return True
    command = next((arg for arg in argv[1:] if not arg.startswith("-")), None)
    if command not in SERVING_COMMANDS:
        return False
    # The auto-reloader's parent only watches files; its child (RUN_MAIN=true) serves.
    return environ.get("RUN_MAIN") == "true" or "--noreload" in argv


_started = False
_started_lock = threading.Lock()


def register_in_background(settings: VokerSettings) -> bool:
    """Queue the settings' agents and versions on the default ``VokerClient``, once per process.

    The client's worker sends them (agents before their versions) off the caller's thread; a
    Voker outage costs the site nothing. Returns whether anything was queued.
    """
    global _started
    from voker_core.agents_sync import register_agents as enqueue_agents
    from voker_core.client import get_client

    if not settings.agents:
        return False
    with _started_lock:
        if _started:
            return False
        _started = True
    enqueue_agents(get_client(), settings.agents)
    return True
