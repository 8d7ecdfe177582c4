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
  task need no ``voker_*`` arguments, and leaves it afterwards - each execution exactly what it
  entered, so a pool thread or process never runs a later task in an earlier one's context, even
  when a retry with the same task id overlaps its first attempt on a threads pool. Chains, chord
  callbacks and retries are published from inside the running task, so they inherit it too.
  With ``task_always_eager`` the task runs in the caller's own context.
* **Worker processes**: prefork children get a fresh client after the fork (``VokerClient`` is
  fork-safe) and, because they leave through ``os._exit`` where ``atexit`` never runs, flush on
  ``worker_process_shutdown``, bounded by the client's ``flush_timeout``. With
  ``flush_after_task=True`` they also flush after every task (for short-lived or autoscaled
  workers), bounded the same way.

Options accumulate: a later ``instrument(app)`` call (the Flask plug-in makes one with
``VOKER_CELERY = True``) changes only the options it passes, so it never turns off a
``flush_after_task=True`` set earlier. Options given without an app are the defaults for every
app; an app's own options win over them.

A lazy person (the Django/Flask integrations resolve the logged-in user only when an event needs
it) is resolved at publish time, since the worker cannot reach the web request.
"""

from __future__ import annotations

import json
import logging
import threading
import weakref
from typing import TYPE_CHECKING, Any

from voker_core.context import check_client, context, current_context
from voker_core.serialize import to_jsonable

if TYPE_CHECKING:
    from celery import Celery, Task

    from voker_core.client import VokerClient

__all__ = ["HEADER", "instrument"]

logger = logging.getLogger("voker.celery")

HEADER = "voker_context"
#: The largest context properties a task message carries (characters of JSON): brokers limit
#: header sizes (RabbitMQ's frame_max, 128 KiB by default, holds all the headers).
MAX_PROPERTIES_SIZE = 16_384

try:  # pragma: no cover - exercised only without the extra installed
    from celery import signals
except ImportError as exc:  # pragma: no cover
    raise ImportError(
        "voker_core.integrations.celery needs Celery: pip install 'voker-integrations[celery]'"
    ) from exc


class _Options:
    """What ``instrument()`` was told for one app, or (``app=None``) for every app.

    ``flush_after_task`` is ``None`` until a call sets it, so that a later call that does not
    mention it (a plug-in instrumenting the app again) keeps the earlier choice.
    """

    __slots__ = ("clients", "flush_after_task")

    def __init__(self) -> None:
        self.flush_after_task: bool | None = None
        self.clients: tuple[VokerClient, ...] = ()

    def update(self, flush_after_task: bool | None, client: VokerClient | None) -> None:
        if flush_after_task is not None:
            self.flush_after_task = flush_after_task
        if client is not None and all(client is not c for c in self.clients):
            self.clients = (*self.clients, client)


_apps: weakref.WeakKeyDictionary[Any, _Options] = weakref.WeakKeyDictionary()
# Options given without an app: the defaults for every app (Django's plug-in has no app to name).
_defaults = _Options()
_lock = threading.Lock()
_connected = False
# Contexts entered by task_prerun, keyed by the execution's request object so that task_postrun
# leaves exactly what the prerun of the same execution entered. Not by task id: two live
# executions can share one (a retry is published from inside its first attempt, and on a
# threads pool another thread runs it before that attempt ends; applications may choose ids),
# and a context left unexited stays set on a pool thread for every later task it runs. Celery
# pushes a fresh request for every execution, and an entry dies with its request.
_entered: weakref.WeakKeyDictionary[Any, context] = weakref.WeakKeyDictionary()
_entered_lock = threading.Lock()
# Clients handed to instrument(), flushed at worker process shutdown with the default one.
_extra_clients: list[VokerClient] = []


def instrument(
    app: Celery | None = None,
    *,
    flush_after_task: bool | None = None,
    client: VokerClient | None = None,
) -> None:
    """Make ``app``'s tasks carry and restore the Voker context (idempotent).

    ``flush_after_task=True`` flushes after every task in worker processes. ``client`` is a
    client to flush in worker processes besides the process-wide one from
    :func:`voker_core.get_client` (for apps that record through a client of their own).

    Repeated calls merge: an option passed overrides the earlier value, an option left out
    (``None``) keeps it, and clients add up. Without ``app`` the options are the defaults for
    every app, which an app's own options override. ``flush_after_task`` is off unless a call
    turns it on.
    """
    global _connected
    _check_instrument_arguments(app, flush_after_task, client)
    with _lock:
        options = _defaults if app is None else _apps.setdefault(app, _Options())
        options.update(flush_after_task, client)
        if client is not None and all(client is not c for c in _extra_clients):
            _extra_clients.append(client)
        if _connected:
            return
        # weak=False: the receivers are module functions, but be explicit that they must live.
        signals.before_task_publish.connect(_inject_context, weak=False)
        signals.task_prerun.connect(_enter_context, weak=False)
        signals.task_postrun.connect(_leave_context, weak=False)
        signals.worker_process_shutdown.connect(_flush_on_process_shutdown, weak=False)
        _connected = True


def _check_instrument_arguments(app: Any, flush_after_task: Any, client: Any) -> None:
    """``TypeError`` naming the argument, at once, rather than a failure in a worker later."""
    from celery import Celery

    if app is not None and not isinstance(app, Celery):
        raise TypeError(f"app must be a Celery app or None, got {type(app).__name__}")
    if flush_after_task is not None and not isinstance(flush_after_task, bool):
        # bool("false") is True: a string from the environment must be parsed by the caller.
        raise TypeError(
            f"flush_after_task must be True, False or None, got {type(flush_after_task).__name__}"
        )
    check_client(client, "client")


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
        # As one JSON string: a message header must suit every broker's encoding (AMQP tables
        # take no int beyond 64 bits, for one), and a string is what they all carry as it is.
        properties = json.dumps(to_jsonable(dict(ctx.properties)), ensure_ascii=False)
        if len(properties) <= MAX_PROPERTIES_SIZE:
            header["properties"] = properties
        else:
            logger.warning(
                "voker: the context's properties (%d characters of JSON) are too large for a "
                "task message header (over %d); the task runs without them",
                len(properties),
                MAX_PROPERTIES_SIZE,
            )
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


def _properties_of(value: Any) -> dict[str, Any] | None:
    """The header's properties: a JSON string, or a dict (as publishers of an earlier version
    of this module sent them, during a rolling upgrade)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            logger.warning("voker: a task's context properties are not JSON; ignored")
            return None
    return value if isinstance(value, dict) else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _enter_context(task: Task | None = None, **_: Any) -> None:
    try:
        if task is None:
            return
        request = task.request  # this execution's: pushed just before task_prerun is sent
        header = _header_of(task)
        if header is None:
            return  # no context was published (or an eager call already runs inside it)
        properties = _properties_of(header.get("properties"))
        scope = context(
            session=_str_or_none(header.get("session")),
            agent=_str_or_none(header.get("agent")),
            agent_version=_str_or_none(header.get("agent_version")),
            person=_str_or_none(header.get("person")),
            properties=properties,
        )
        # Recorded before entering: a request that cannot be recorded must not enter a context
        # that nothing would leave.
        with _entered_lock:
            _entered[request] = scope
        scope.__enter__()
    except Exception:
        logger.warning("voker: could not enter the task's context", exc_info=True)


def _leave_context(task: Task | None = None, **_: Any) -> None:
    if task is None:
        return
    try:
        # Celery pops the request only after task_postrun, so this is the prerun's request.
        with _entered_lock:
            scope = _entered.pop(task.request, None)
        if scope is not None:
            scope.__exit__(None, None, None)
    except Exception:
        logger.warning("voker: could not leave the task's context", exc_info=True)
    try:
        app_options = _apps.get(task.app)
        if _flush_after_task(app_options):
            for client in _clients(app_options):
                client.flush(timeout=client.settings.flush_timeout)
    except Exception:
        logger.warning("voker: flushing after a task failed", exc_info=True)


def _flush_after_task(app_options: _Options | None) -> bool:
    if app_options is not None and app_options.flush_after_task is not None:
        return app_options.flush_after_task
    return bool(_defaults.flush_after_task)


def _clients(app_options: _Options | None = None, *, every: bool = False) -> list[VokerClient]:
    """The default client, then ``app_options``'s clients and the app-less ones (``every``:
    every client ever handed to ``instrument()``), each once."""
    from voker_core.client import get_client

    clients: list[VokerClient] = [get_client()]
    if every:
        extra: list[VokerClient] = list(_extra_clients)
    else:
        extra = [*(app_options.clients if app_options is not None else ()), *_defaults.clients]
    for client in extra:
        if all(client is not c for c in clients):
            clients.append(client)
    return clients


def _flush_on_process_shutdown(**_: Any) -> None:
    # Pool children leave through os._exit, so atexit never runs there: deliver now, bounded.
    try:
        for client in _clients(every=True):
            client.close(timeout=client.settings.flush_timeout)
    except Exception:
        logger.warning("voker: flushing at worker process shutdown failed", exc_info=True)
