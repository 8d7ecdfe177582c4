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
reads the session, at most once per request. An id written into Flask's session after the
response has been sent (inside a streamed body) cannot reach the cookie; such a request's
session stays its own.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from flask import Flask, Request
from flask.sessions import SessionMixin

__all__ = ["FLASK_SESSION_KEY", "SessionLoader", "header_session", "lazy_session"]

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


def lazy_session(
    *,
    app: Flask,
    flask_session: SessionMixin,
    loader: Callable[[], SessionLoader | None],
    no_session_source: Callable[[], None],
) -> Callable[[], str | None]:
    """The lazy session source of one request (header already ruled out).

    ``flask_session`` is the request's own session object, captured when the request starts so
    the source also works when read from another thread (e.g. ``asyncio.to_thread``).
    ``no_session_source`` is called when nothing gives an id (it warns once per app).
    """

    def resolve() -> str | None:
        if not app.session_interface.is_null_session(flask_session):
            current = flask_session.get(FLASK_SESSION_KEY)
            if isinstance(current, str) and current:
                return current
            created = _new_id()
            flask_session[FLASK_SESSION_KEY] = created  # marks the session modified: cookie set
            return created
        registered = loader()
        if registered is not None:
            try:
                value = registered()
            except Exception:
                logger.warning("voker: session_loader raised (ignored)", exc_info=True)
                value = None
            if value is not None and str(value).strip():
                return str(value)
        no_session_source()
        return _new_id()

    return resolve
