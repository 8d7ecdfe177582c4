"""Celery: tasks keep the Voker context of the code that queued them; workers never lose events.

One line, next to where the Celery app is created::

    from voker_core.integrations.celery import instrument

    app = Celery("proj")
    instrument(app)                         # or instrument(app, flush_after_task=True)

What it does:

* **Publishing** (``delay``, ``apply_async``, ``send_task``, canvas): the publisher's
  :func:`voker_core.context` — session, agent, agent version, person, properties — travels in the
  task message's ``voker_context`` header. Tasks published outside any context carry nothing.
* **Executing**: the worker enters that context around the task, so wrapped LLM calls inside the
  task need no ``voker_*`` arguments, and leaves it afterwards. Chains, chord callbacks and
  retries are published from inside the running task, so they inherit it too. With
  ``task_always_eager`` the task runs in the caller's own context.
* **Worker processes**: prefork children get a fresh client after the fork (``VokerClient`` is
  fork-safe) and, because they leave through ``os._exit`` where ``atexit`` never runs, flush on
  ``worker_process_shutdown``, bounded by the client's ``flush_timeout``. With
  ``flush_after_task=True`` they also flush after every task (for short-lived or autoscaled
  workers), bounded the same way.

A lazy person (the Django/Flask integrations resolve the logged-in user only when an event needs
it) is resolved at publish time, since the worker cannot reach the web request.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import TYPE_CHECKING, Any

from voker_core.context import context, current_context
from voker_core.serialize import to_jsonable

if TYPE_CHECKING:
    from celery import Celery, Task

    from voker_core.client import VokerClient

__all__ = ["HEADER", "instrument"]

logger = logging.getLogger("voker.celery")

HEADER = "voker_context"

try:  # pragma: no cover - exercised only without the extra installed
    from celery import signals
except ImportError as exc:  # pragma: no cover
    raise ImportError(
        "voker_core.integrations.celery needs Celery: pip install 'voker-integrations[celery]'"
    ) from exc


class _AppOptions:
    __slots__ = ("client", "flush_after_task")

    def __init__(self, client: VokerClient | None, flush_after_task: bool) -> None:
        self.client = client
        self.flush_after_task = flush_after_task


_apps: weakref.WeakKeyDictionary[Any, _AppOptions] = weakref.WeakKeyDictionary()
_connected = False
_connect_lock = threading.Lock()
# Contexts entered for running tasks, by task id, so postrun can leave exactly what prerun entered.
_active: dict[str, context] = {}
_active_lock = threading.Lock()
# Clients handed to instrument(), flushed at worker process shutdown with the default one.
_extra_clients: list[VokerClient] = []


def instrument(
    app: Celery | None = None,
    *,
    flush_after_task: bool = False,
    client: VokerClient | None = None,
) -> None:
    """Make ``app``'s tasks carry and restore the Voker context (idempotent).

    ``client`` is a client to flush in worker processes besides the process-wide one from
    :func:`voker_core.get_client` (for apps that record through a client of their own).
    """
    global _connected
    options = _AppOptions(client, bool(flush_after_task))
    if app is not None:
        _apps[app] = options
    if client is not None and all(client is not c for c in _extra_clients):
        _extra_clients.append(client)
    with _connect_lock:
        if _connected:
            return
        # weak=False: the receivers are module functions, but be explicit that they must live.
        signals.before_task_publish.connect(_inject_context, weak=False)
        signals.task_prerun.connect(_enter_context, weak=False)
        signals.task_postrun.connect(_leave_context, weak=False)
        signals.worker_process_shutdown.connect(_flush_on_process_shutdown, weak=False)
        _connected = True


def _context_header() -> dict[str, Any] | None:
    ctx = current_context()
    header: dict[str, Any] = {}
    for key in ("session", "agent", "agent_version"):
        value = getattr(ctx, key)
        if value is not None:
            header[key] = value
    if ctx.has_person:
        try:
            person = ctx.resolve_person()
        except Exception:
            logger.warning("voker: resolving the person for a task failed", exc_info=True)
            person = None
        if person is not None:
            header["person"] = person
    if ctx.properties:
        header["properties"] = to_jsonable(dict(ctx.properties))
    return header or None


def _inject_context(headers: dict[str, Any] | None = None, **_: Any) -> None:
    try:
        if headers is None:
            return
        header = _context_header()
        if header is not None:
            headers[HEADER] = header
        else:
            # A retry or a chain step republished outside any context must not keep a stale one.
            headers.pop(HEADER, None)
    except Exception:
        logger.warning("voker: could not attach the context to a task message", exc_info=True)


def _header_of(task: Task) -> dict[str, Any] | None:
    request = getattr(task, "request", None)
    if request is None:
        return None
    header = getattr(request, HEADER, None)
    if header is None and isinstance(getattr(request, "headers", None), dict):
        header = request.headers.get(HEADER)
    return header if isinstance(header, dict) else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _enter_context(task_id: str | None = None, task: Task | None = None, **_: Any) -> None:
    try:
        if task is None or task_id is None:
            return
        header = _header_of(task)
        if header is None:
            return  # no context was published (or an eager call already runs inside it)
        properties = header.get("properties")
        scope = context(
            session=_str_or_none(header.get("session")),
            agent=_str_or_none(header.get("agent")),
            agent_version=_str_or_none(header.get("agent_version")),
            person=_str_or_none(header.get("person")),
            properties=properties if isinstance(properties, dict) else None,
        )
        scope.__enter__()
        with _active_lock:
            _active[task_id] = scope
    except Exception:
        logger.warning("voker: could not enter the task's context", exc_info=True)


def _leave_context(task_id: str | None = None, task: Task | None = None, **_: Any) -> None:
    try:
        with _active_lock:
            scope = _active.pop(task_id, None) if task_id is not None else None
        if scope is not None:
            scope.__exit__(None, None, None)
        options = _apps.get(getattr(task, "app", None)) if task is not None else None
        if options is not None and options.flush_after_task:
            for client in _clients(options):
                client.flush(timeout=client.settings.flush_timeout)
    except Exception:
        logger.warning("voker: could not leave the task's context", exc_info=True)


def _clients(options: _AppOptions | None = None) -> list[VokerClient]:
    from voker_core.client import get_client

    clients: list[VokerClient] = [get_client()]
    extra = [options.client] if options is not None and options.client else _extra_clients
    for client in extra:
        if client is not None and all(client is not c for c in clients):
            clients.append(client)
    return clients


def _flush_on_process_shutdown(**_: Any) -> None:
    # Pool children leave through os._exit, so atexit never runs there: deliver now, bounded.
    try:
        for client in _clients():
            client.close(timeout=client.settings.flush_timeout)
    except Exception:
        logger.warning("voker: flushing at worker process shutdown failed", exc_info=True)
