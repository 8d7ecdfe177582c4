"""Run Django's synchronous ORM safely from wherever a lazy value gets resolved.

A lazy session or person is normally resolved in a thread (WSGI, or a sync view under ASGI),
or through its async path (``aresolve``). But some readers are synchronous and may run inside an
event loop — ``voker_core.current_context().session``, ``VokerClient.events.create`` in an async
view, a Celery publish. Django raises ``SynchronousOnlyOperation`` for ORM use there, so
:func:`call_blocking` runs the function on a short-lived helper thread and waits for it. That
blocks the loop for one query; it happens at most once per request and value, and only for the
first visit of a browser (a session that already has a cookie needs no query).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from voker_core._blocking import call_blocking as _call_blocking
from voker_core._blocking import in_event_loop

__all__ = ["call_blocking", "in_event_loop"]

T = TypeVar("T")


def _close_connections() -> None:
    from django.db import connections

    connections.close_all()


def call_blocking(func: Callable[[], T]) -> T:
    """Call ``func()``; from inside an event loop, call it on a helper thread and wait (the
    database connections that thread opened are closed when it is done)."""
    return _call_blocking(func, name="voker-django-resolve", cleanup=_close_connections)
