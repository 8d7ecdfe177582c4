"""Which Voker session (conversation) a Flask request belongs to.

In order (the order of DESIGN §6 and of the Django plug-in):

1. the ``VOKER_SESSION_HEADER`` request header (default ``X-Voker-Session``) — for API clients
   and front ends that keep their own conversation id;
2. an id kept in Flask's ``session`` under ``"_voker_session"``, created the first time an event
   needs it (so requests that record nothing never get a session cookie); one browser, one
   conversation;
3. when Flask's session is unusable (the app has no ``SECRET_KEY``), a function registered with
   ``@voker.session_loader`` returning an id (or ``None``);
4. else a fresh id per request, with a one-time warning, so an LLM call is never refused.

Everything but the header is lazy: it runs only when a wrapped LLM call or ``events.create``
reads the session, at most once per request. A streamed response is the exception: its body
records after the headers (and the cookie) have left, so the id is put into Flask's session
before they leave when that costs nothing (see :meth:`LazySession.resolve_before_headers`);
an id first created inside such a body cannot reach the cookie and stays that request's own.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSessionInterface, SessionMixin

__all__ = ["FLASK_SESSION_KEY", "LazySession", "SessionLoader", "header_session", "lazy_session"]

logger = logging.getLogger("voker.flask")

FLASK_SESSION_KEY = "_voker_session"

SessionLoader = Callable[[], Any]


def header_session(request: Request, header: str) -> str | None:
    """The session id sent in ``header``, if any (blank values are ignored)."""
    value = request.headers.get(header)
    if value is None or not value.strip():
        return None
    return value.strip()


def _new_id() -> str:
    return uuid.uuid4().hex


class LazySession:
    """The lazy session source of one request (header already ruled out); see the module doc.

    ``flask_session`` is the request's own session object, captured when the request starts so
    the source also works when read from another thread (e.g. ``asyncio.to_thread``) or from a
    streamed body after the request has ended. ``no_session_source`` is called when nothing
    gives an id (it warns once per app).
    """

    def __init__(
        self,
        *,
        app: Flask,
        flask_session: SessionMixin,
        loader: Callable[[], SessionLoader | None],
        no_session_source: Callable[[], None],
    ) -> None:
        self._app = app
        self._flask_session = flask_session
        self._loader = loader
        self._no_session_source = no_session_source

    @property
    def _uses_flask_session(self) -> bool:
        return not self._app.session_interface.is_null_session(self._flask_session)

    def resolve_before_headers(self) -> bool:
        """Whether a streamed response should resolve this session before its headers leave.

        A streamed body records after the headers are sent, too late to put a new id into the
        cookie: every streamed chat would be a conversation of its own. Resolving early costs
        nothing with Flask's default cookie session (the id rides in the cookie: no store, no
        query) or when the visitor's session already holds the id; with a server-side session
        store it means a write, so it is done only for a visitor who already has a session.
        Without a usable Flask session the id never reaches a cookie: nothing to gain early.
        """
        if not self._uses_flask_session:
            return False
        if self._flask_session.get(FLASK_SESSION_KEY):
            return False  # already there: reading it later needs no cookie
        if isinstance(self._app.session_interface, SecureCookieSessionInterface):
            return True
        return len(self._flask_session) > 0

    def __call__(self) -> str | None:
        if self._uses_flask_session:
            current = self._flask_session.get(FLASK_SESSION_KEY)
            if isinstance(current, str) and current:
                return current
            created = _new_id()
            self._flask_session[FLASK_SESSION_KEY] = created  # marks it modified: cookie set
            return created
        registered = self._loader()
        if registered is not None:
            try:
                value = registered()
            except Exception:
                logger.warning("voker: session_loader raised (ignored)", exc_info=True)
                value = None
            if value is not None and str(value).strip():
                return str(value)
        self._no_session_source()
        return _new_id()


def lazy_session(
    *,
    app: Flask,
    flask_session: SessionMixin,
    loader: Callable[[], SessionLoader | None],
    no_session_source: Callable[[], None],
) -> LazySession:
    """The lazy session source of one request (see :class:`LazySession`)."""
    return LazySession(
        app=app, flask_session=flask_session, loader=loader, no_session_source=no_session_source
    )
