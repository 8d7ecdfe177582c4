"""System checks (``manage.py check``) for the Voker integration.

- ``voker_django.E001`` — ``settings.VOKER`` is invalid (the message names the key).
- ``voker_django.W001`` — ``VokerMiddleware`` is not in ``MIDDLEWARE``: LLM calls made in views
  get no session, person or agent from the request.
- ``voker_django.W002`` — ``VokerMiddleware`` comes before ``SessionMiddleware`` or
  ``AuthenticationMiddleware``: put it after them, or sessions created for a streamed response
  lose their cookie and users may be missed.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

__all__ = ["check_middleware", "check_settings"]

MIDDLEWARE_PATH = "voker_django.middleware.VokerMiddleware"

# Middleware that must run before ours, by the base class any replacement would extend.
_PREREQUISITES = (
    ("django.contrib.sessions.middleware.SessionMiddleware", "request.session"),
    ("django.contrib.auth.middleware.AuthenticationMiddleware", "request.user"),
)


def _is_subclass(path: str, base_path: str) -> bool:
    if path == base_path:
        return True
    try:
        cls, base = import_string(path), import_string(base_path)
    except ImportError:
        return False
    return isinstance(cls, type) and isinstance(base, type) and issubclass(cls, base)


@checks.register("voker")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``settings.VOKER`` is valid."""
    from voker_django.conf import load

    try:
        load(getattr(settings, "VOKER", None))
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="voker_django.E001")]
    return []


@checks.register("voker")
def check_middleware(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``VokerMiddleware`` is installed, after the session and authentication middleware."""
    middleware = [str(path) for path in getattr(settings, "MIDDLEWARE", None) or []]
    ours = [i for i, path in enumerate(middleware) if _is_subclass(path, MIDDLEWARE_PATH)]
    if not ours:
        return [
            checks.Warning(
                f"{MIDDLEWARE_PATH} is not in MIDDLEWARE, so LLM calls made while serving a "
                "request are not tied to its session, user and agent.",
                hint=f'Add "{MIDDLEWARE_PATH}" to MIDDLEWARE, after the session and '
                "authentication middleware.",
                id="voker_django.W001",
            )
        ]
    position = ours[0]
    messages: list[checks.CheckMessage] = []
    for base_path, attribute in _PREREQUISITES:
        later = [path for path in middleware[position + 1 :] if _is_subclass(path, base_path)]
        if later:
            messages.append(
                checks.Warning(
                    f"{MIDDLEWARE_PATH} comes before {later[0]} in MIDDLEWARE; it needs "
                    f"{attribute}, which that middleware sets.",
                    hint=f"Move {MIDDLEWARE_PATH} after {later[0]}.",
                    id="voker_django.W002",
                )
            )
    return messages
