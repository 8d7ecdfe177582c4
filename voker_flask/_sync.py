"""Run an ``async def`` loader from synchronous code, wherever that code runs.

Flask's ``ensure_sync`` (asgiref's ``AsyncToSync``) refuses to run in a thread that is running an
event loop — which is where an async view's synchronous code runs (a sync OpenAI client, a
custom ``events.create``). There :func:`call_async` runs the loader on a short-lived helper
thread, in a copy of the caller's context (so ``current_app``, ``g`` and ``request`` are
there), and waits: the loop is blocked for that one call, at most once per request and value.
The Django plug-in has the same helper for its ORM (``voker_django._sync``), with Django's
connection clean-up, which is why this one is not shared.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from flask import current_app

__all__ = ["call_async"]


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def call_async(func: Callable[[], Awaitable[Any]]) -> Any:
    """Call the ``async def`` ``func`` from synchronous code and return its result."""
    run = current_app.ensure_sync(func)
    if not _in_event_loop():
        return run()
    ctx = contextvars.copy_context()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = ctx.run(run)
        except BaseException as exc:  # handed back to the caller below
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="voker-flask-loader", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
