"""Which Voker session (conversation) a Flask request belongs to.

In order (the order of DESIGN §6 and of the Django plug-in):

1. the ``VOKER_SESSION_HEADER`` request header (default ``X-Voker-Session``) — for API clients
   and front ends that keep their own conversation id;
2. an id kept in Flask's ``session`` under ``"_voker_session"``, created the first time an event
   needs it (so requests that record nothing never get a session cookie); one browser, one
   conversation;
3. when Flask's session is unusable (the app has no ``SECRET_KEY``), a function registered with
   ``@voker.session_loader`` (sync or ``async``) returning an id (or ``None``);
4. else a fresh id per request, with a one-time warning, so an LLM call is never refused.

Everything but the header is lazy: it runs only when a wrapped LLM call or ``events.create``
reads the session, at most once per request. Once the response's cookie is saved
(:meth:`LazySession.headers_sent`) a new id can no longer reach the browser: a streamed body
that records then (its view did not declare it, see :func:`voker_flask.agents.streams_llm`)
still gets the id the visitor's Flask session already holds, else a fresh one of its own.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Callable
from typing import Any

from flask import Flask, Request
from flask import session as flask_session
from flask.globals import request_ctx
from flask.sessions import SessionMixin

from voker_flask._sync import call_async

__all__ = [
    "FLASK_SESSION_KEY",
    "LazySession",
    "SessionLoader",
    "header_session",
    "request_session",
]

logger = logging.getLogger("voker.flask")

FLASK_SESSION_KEY = "_voker_session"

SessionLoader = Callable[[], Any]


def header_session(request: Request, header: str) -> str | None:
    """The session id sent in ``header``, if any (blank values are ignored)."""
    value = request.headers.get(header)
    if value is None or not value.strip():
        return None
    return value.strip()


def request_session() -> SessionMixin:
    """The current request's Flask session object, without marking it accessed.

    Since Flask 3.1 every read of ``RequestContext.session`` (the ``flask.session`` proxy)
    marks the session accessed, which adds ``Vary: Cookie`` to the response: capturing it for
    later must not do that to every response (:class:`LazySession` marks it when it writes).
    """
    opened = vars(request_ctx._get_current_object()).get("_session")  # type: ignore[attr-defined]
    if isinstance(opened, SessionMixin):
        return opened
    # Flask 3.0 keeps it in a plain attribute, whose reads mark nothing.
    current: SessionMixin = flask_session._get_current_object()  # type: ignore[attr-defined]
    return current


def _new_id() -> str:
    return uuid.uuid4().hex


class LazySession:
    """The lazy session source of one request (header already ruled out); see the module doc.

    ``flask_session`` is the request's own session object, captured when the request starts so
    the source also works when read from another thread (e.g. ``asyncio.to_thread``) or from a
    streamed body after the request has ended. ``no_session_source`` is called when nothing
    gives an id (it warns once per app); ``late(path)`` when an id is needed after the cookie
    was saved, for a visitor whose Flask session holds none.
    """

    def __init__(
        self,
        *,
        app: Flask,
        flask_session: SessionMixin,
        loader: Callable[[], SessionLoader | None],
        no_session_source: Callable[[], None],
        late: Callable[[str], None],
    ) -> None:
        self._app = app
        self._flask_session = flask_session
        self._loader = loader
        self._no_session_source = no_session_source
        self._late = late
        self._sent_path: str | None = None  # set once the response's cookie is saved

    def headers_sent(self, path: str) -> None:
        """From now on write no new id into Flask's session: its cookie could not carry it."""
        self._sent_path = path

    def __call__(self) -> str | None:
        kept = self._flask_session_id()
        if kept is not None:
            return kept
        registered = self._loader()
        value: Any = None
        if registered is not None:
            try:
                if inspect.iscoroutinefunction(registered):
                    value = call_async(registered)  # read from sync code: see voker_flask._sync
                else:
                    value = registered()
            except Exception:
                logger.warning("voker: session_loader raised (ignored)", exc_info=True)
        return self._accept(value)

    async def aresolve(self) -> str | None:
        """Like calling it, but an ``async`` session_loader is awaited on the caller's loop."""
        registered = self._loader()
        if registered is None or not inspect.iscoroutinefunction(registered):
            return self()  # nothing to await: no I/O beyond the Flask session object
        kept = self._flask_session_id()
        if kept is not None:
            return kept
        try:
            value = await registered()
        except Exception:
            logger.warning("voker: session_loader raised (ignored)", exc_info=True)
            value = None
        return self._accept(value)

    def _flask_session_id(self) -> str | None:
        """The id kept in Flask's session (created if needed); None if that session is unusable."""
        if self._app.session_interface.is_null_session(self._flask_session):
            return None
        current = self._flask_session.get(FLASK_SESSION_KEY)
        if isinstance(current, str) and current:
            return current
        if self._sent_path is not None:
            self._late(self._sent_path)
            return _new_id()
        created = _new_id()
        self._flask_session[FLASK_SESSION_KEY] = created  # marks it modified: cookie set
        self._flask_session.accessed = True  # and Vary: Cookie, as flask.session would
        return created

    def _accept(self, value: Any) -> str:
        """The loader's id, else (logged once) a fresh one; never an awaitable's repr."""
        if inspect.isawaitable(value):
            close = getattr(value, "close", None)
            if callable(close):
                close()  # no "never awaited" warning
            logger.warning(
                "voker: session_loader returned an awaitable; make it an async def (ignored)"
            )
            value = None
        if value is not None and str(value).strip():
            return str(value)
        self._no_session_source()
        return _new_id()
