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

import asyncio
import contextvars
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["call_blocking", "in_event_loop"]

T = TypeVar("T")


def in_event_loop() -> bool:
    """Whether this thread is running an asyncio event loop right now."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def call_blocking(func: Callable[[], T]) -> T:
    """Call ``func()``; from inside an event loop, call it on a helper thread and wait."""
    if not in_event_loop():
        return func()
    ctx = contextvars.copy_context()
    outcome: dict[str, Any] = {}

    def target() -> None:
        from django.db import connections

        try:
            outcome["value"] = ctx.run(func)
        except BaseException as exc:  # handed back to the caller below
            outcome["error"] = exc
        finally:
            # The connections this thread opened die with it: close them now.
            connections.close_all()

    thread = threading.Thread(target=target, name="voker-django-resolve", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]
