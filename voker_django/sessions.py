"""The Voker session of a request.

In order: the ``SESSION_HEADER`` request header (default ``X-Voker-Session``, read eagerly: it
costs nothing), else the Django session key, else ``settings.VOKER["SESSION_ID"](request)``.

The Django session is used lazily (:class:`SessionResolver`): its key comes from the session
cookie with no query at all; a browser without a session gets one created (``session.save()``)
only when an event needs it — Django's ``SessionMiddleware`` then sends the cookie with the
response, so the browser's next requests share the Voker session. Two browsers never share one.

If nothing gives a session (no ``SessionMiddleware``, no ``SESSION_ID``, or the session store
failing), the request gets a random session of its own, so an LLM call is never refused.

Caveats, by Django's design: logging in rotates the session key (``cycle_key``), so a visitor's
Voker session changes at login; with the ``signed_cookies`` backend the key changes whenever
the session data does — send the header or set ``SESSION_ID`` if you need ids that outlive that.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

from django.http import HttpRequest

from voker_django._sync import call_blocking
from voker_django.conf import VokerSettings

__all__ = ["MAX_HEADER_SESSION_LENGTH", "SessionResolver", "header_session"]

logger = logging.getLogger("voker.django")

MAX_HEADER_SESSION_LENGTH = 256

_warned_no_source = False


def header_session(request: HttpRequest, settings: VokerSettings) -> str | None:
    """The session sent by the client in ``SESSION_HEADER``, if any (ignored when malformed)."""
    value = request.META.get(settings.session_meta_key)
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > MAX_HEADER_SESSION_LENGTH or not value.isprintable():
        return None
    return value


def _django_session_key(request: HttpRequest) -> str | None:
    session = getattr(request, "session", None)
    if session is None:
        return None
    key = session.session_key
    if not key:
        # Creates the session (and its key); SessionMiddleware sees it modified and sends the
        # cookie with the response.
        session.save()
        key = session.session_key
    return key if isinstance(key, str) and key else None


class SessionResolver:
    """The lazy session of one request (a zero-argument callable, resolved once)."""

    __slots__ = ("_lock", "_request", "_settings", "_value")

    def __init__(self, request: HttpRequest, settings: VokerSettings) -> None:
        self._request = request
        self._settings = settings
        self._value: str | None = None
        self._lock = threading.Lock()

    @property
    def needs_django_session(self) -> bool:
        """Whether resolving would create a Django session (a browser without the cookie)."""
        session = getattr(self._request, "session", None)
        return self._value is None and session is not None and not session.session_key

    def __call__(self) -> str:
        if self._value is not None:
            return self._value
        with self._lock:
            if self._value is None:
                self._value = self._resolve()
        return self._value

    def _resolve(self) -> str:
        request = self._request
        if getattr(request, "session", None) is not None:
            try:
                key = call_blocking(lambda: _django_session_key(request))
            except Exception:
                logger.warning("voker: could not read or create the Django session", exc_info=True)
            else:
                if key:
                    return key
        if self._settings.session_id is not None:
            session_id = self._settings.session_id
            try:
                value: Any = call_blocking(lambda: session_id(request))
            except Exception:
                logger.warning("voker: settings.VOKER['SESSION_ID'] raised", exc_info=True)
            else:
                if value is not None and str(value).strip():
                    return str(value)
        global _warned_no_source
        if not _warned_no_source:
            _warned_no_source = True
            logger.warning(
                "voker: no session for this request (no %s header, no Django session, no "
                "settings.VOKER['SESSION_ID']); each such request gets a session of its own",
                self._settings.session_header,
            )
        return "request-" + uuid.uuid4().hex
