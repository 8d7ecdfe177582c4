"""Run an ``async def`` loader from synchronous code, wherever that code runs.

Flask's ``ensure_sync`` (asgiref's ``AsyncToSync``) refuses to run in a thread that is running an
event loop — which is where an async view's synchronous code runs (a sync OpenAI client, a
custom ``events.create``). There :func:`call_async` runs the loader on a short-lived helper
thread, in a copy of the caller's context (so ``current_app``, ``g`` and ``request`` are
there), and waits (``voker_core._blocking``, which the Django plug-in uses for its ORM too).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from flask import current_app

from voker_core._blocking import call_blocking

__all__ = ["call_async"]


def call_async(func: Callable[[], Awaitable[Any]]) -> Any:
    """Call the ``async def`` ``func`` from synchronous code and return its result."""
    return call_blocking(current_app.ensure_sync(func), name="voker-flask-loader")
