"""Run Django's synchronous ORM safely from wherever a lazy value gets resolved.

A lazy session or person is normally resolved in a thread (WSGI, or a sync view under ASGI),
or through its async path (``aresolve``). But some readers are synchronous and may run inside an
event loop — ``voker_core.current_context().session``, ``VokerClient.events.create`` in an async
view, a Celery publish. Django raises ``SynchronousOnlyOperation`` for ORM use there, so
:func:`call_blocking` runs the function in another thread and waits. That blocks the loop for
one query; it happens at most once per request and value, and only for the first visit of a
browser (a session that already has a cookie needs no query) or the first event with a person.

Which thread: the one Django's own ``sync_to_async`` would use, when a thread is waiting on
this loop — asgiref's ``async_to_sync`` called from a thread that owns a database connection:
the test's thread of an async ``django.test.TestCase`` method (its connection holds the test's
transaction, which no other connection can see into or write past), or the thread of a
synchronous middleware around an async view. That thread only runs such calls while it waits,
so handing it ours cannot deadlock — unless it is busy with another call that itself waits for
this loop (``async_to_sync`` inside ``sync_to_async``, run concurrently in the same request):
so the hand-off is given :data:`HANDOFF_TIMEOUT`, and if the thread has not taken the call by
then it is withdrawn and runs as when no thread is waiting: on a short-lived helper thread, whose
database connections are closed when it is done. (Asgiref's other thread-sensitive executors,
plain one-thread pools, are never waited on from the loop: their thread may be busy with
anything.)
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from voker_core._blocking import call_blocking as _call_blocking
from voker_core._blocking import in_event_loop

__all__ = ["HANDOFF_TIMEOUT", "call_blocking", "in_event_loop"]

logger = logging.getLogger("voker.django")

T = TypeVar("T")

# Seconds the event loop waits for the waiting thread to take a call (it normally does at once).
HANDOFF_TIMEOUT = 1.0


def _close_connections() -> None:
    from django.db import connections

    connections.close_all()


def _waiting_thread() -> concurrent.futures.Executor | None:
    """The executor of the thread waiting on this loop in ``async_to_sync``, if any.

    ``AsyncToSync.executors.current`` is where asgiref's ``sync_to_async(thread_sensitive=True)``
    looks first; an asgiref without it means no such thread, as before.
    """
    try:
        from asgiref.current_thread_executor import CurrentThreadExecutor
        from asgiref.sync import AsyncToSync
    except ImportError:  # pragma: no cover - asgiref's layout changed
        return None
    executor = getattr(getattr(AsyncToSync, "executors", None), "current", None)
    return executor if isinstance(executor, CurrentThreadExecutor) else None


def _hand_off(executor: concurrent.futures.Executor, func: Callable[[], T]) -> tuple[bool, Any]:
    """``(True, func())`` run on ``executor``'s thread, or ``(False, None)`` if it did not take
    the call within :data:`HANDOFF_TIMEOUT` (or has stopped waiting)."""
    ctx = contextvars.copy_context()
    try:
        future = executor.submit(ctx.run, func)
    except RuntimeError:  # it stopped waiting meanwhile
        return False, None
    try:
        return True, future.result(timeout=HANDOFF_TIMEOUT)
    except concurrent.futures.TimeoutError:
        if not future.cancel():
            return True, future.result()  # it is running ours now: nothing else to wait for
    logger.debug(
        "voker: the thread waiting on the event loop is busy; resolving on a helper thread"
    )
    return False, None


def call_blocking(func: Callable[[], T]) -> T:
    """Call ``func()``; from inside an event loop, call it in another thread and wait (see the
    module docstring for which one)."""
    if not in_event_loop():
        return func()
    executor = _waiting_thread()
    if executor is not None:
        done, value = _hand_off(executor, func)
        if done:
            return value  # type: ignore[no-any-return]
    return _call_blocking(func, name="voker-django-resolve", cleanup=_close_connections)
