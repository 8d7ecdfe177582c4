"""Calling blocking code from wherever a lazy value gets resolved, an event loop included.

The web plug-ins resolve a request's session and person lazily, when something records. Most
readers are synchronous; some run inside an event loop (an async view's sync OpenAI client, a
custom ``events.create`` there), where blocking work is refused (Django raises
``SynchronousOnlyOperation`` for ORM use, asgiref's ``AsyncToSync`` for an async loader).
:func:`call_blocking` runs such work on a short-lived helper thread, in a copy of the caller's
context, and waits: it blocks the loop for that one call, at most once per request and value.
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


def call_blocking(
    func: Callable[[], T], *, name: str = "voker-resolve", cleanup: Callable[[], None] | None = None
) -> T:
    """Call ``func()``; from inside an event loop, call it on a helper thread (named ``name``)
    and wait. ``cleanup`` runs on that thread when ``func`` is done (e.g. closing the database
    connections the thread opened, which die with it)."""
    if not in_event_loop():
        return func()
    ctx = contextvars.copy_context()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = ctx.run(func)
        except BaseException as exc:  # handed back to the caller below
            outcome["error"] = exc
        finally:
            if cleanup is not None:
                cleanup()

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]
