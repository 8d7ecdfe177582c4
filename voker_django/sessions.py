"""The Voker session of a request.

In order: the ``SESSION_HEADER`` request header (default ``X-Voker-Session``, read eagerly: it
costs nothing), else the Django session key, else ``settings.VOKER["SESSION_ID"](request)``.

The Django session is used lazily (:class:`SessionResolver`): its key comes from the session
cookie with no query at all; a browser without a session gets one created (``session.save()``)
only when an event needs it — Django's ``SessionMiddleware`` then sends the cookie with the
response, so the browser's next requests share the Voker session. Two browsers never share one.

A session created after the response left the middleware would never reach the browser (its
cookie is set on the way out), so from then on (:meth:`SessionResolver.headers_sent`) the
resolver creates none: a streamed body that first records then uses the key Django already has,
else ``SESSION_ID``, else a random id. Streaming views that record get their session before the
headers leave instead (see :mod:`voker_django.middleware`).

If nothing gives a session (no ``SessionMiddleware``, no ``SESSION_ID``, or the session store
failing), the request gets a random session of its own, so an LLM call is never refused.

The Django session key is a credential (whoever holds it is logged in as the visitor; with the
``signed_cookies`` backend it is the signed session data itself), and Voker's data is read by
people who must not be able to log in as the site's users. So the Voker session is never the
key itself but :func:`session_id_for` of it: a keyed hash (HMAC with ``SECRET_KEY``), the same for
the same key, so one browser is still one conversation, and useless as a cookie.

A first-time visitor's session is created lazily, and the view may be inside
``transaction.atomic()`` (or ``ATOMIC_REQUESTS``) at that moment: the session row is then part of
the view's transaction, and a rollback that the view survives (it catches the error) deletes it,
after which ``SessionMiddleware`` answers 400 (``SessionInterrupted``) instead of the view's
response. The session is still created there, as Django itself would (the view sees its key, and
may save the session itself); the middleware checks after the view that the row is still there
and, if it was rolled back, creates it again under the same key
(:meth:`SessionResolver.ensure_saved`): one query, only for a session created inside a
transaction.

Caveats, by Django's design: logging in rotates the session key (``cycle_key``), so a visitor's
Voker session changes at login; with the ``signed_cookies`` backend the key changes whenever
the session data does — send the header or set ``SESSION_ID`` if you need ids that outlive that.
"""

from __future__ import annotations

import logging
import secrets
import threading
import uuid
from typing import Any

from asgiref.sync import sync_to_async
from django.db import router, transaction
from django.http import HttpRequest
from django.utils.crypto import salted_hmac

from voker_django._sync import call_blocking
from voker_django.conf import VokerSettings, returned

__all__ = ["MAX_HEADER_SESSION_LENGTH", "SessionResolver", "header_session", "session_id_for"]

logger = logging.getLogger("voker.django")

MAX_HEADER_SESSION_LENGTH = 256

# The HMAC salt of session_id_for: changing it changes every browser's Voker session id.
_SESSION_ID_SALT = "voker_django.session"
# A random value put in a signed-cookie session created for Voker, so that its key is unique.
_NONCE = "_voker_nonce"

_warned_no_source = False
_warned_late = False


def header_session(request: HttpRequest, settings: VokerSettings) -> str | None:
    """The session sent by the client in ``SESSION_HEADER``, if any (ignored when malformed)."""
    value = request.META.get(settings.session_meta_key)
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > MAX_HEADER_SESSION_LENGTH or not value.isprintable():
        return None
    return value


def session_id_for(session_key: str | None) -> str | None:
    """The Voker session id of a Django session key (64 hex characters); ``None`` for no key.

    A keyed hash (HMAC-SHA256 with ``settings.SECRET_KEY``), so the id sent to Voker cannot be
    used as a session cookie, while the same key always gives the same id. Use it to find a
    browser's conversation in Voker, e.g. ``session_id_for(request.session.session_key)``.
    Rotating ``SECRET_KEY`` changes every id.

    A visitor without a session yet has the key ``None``: that is no conversation, not one
    shared by every such visitor (which hashing ``"None"`` would give), so it gives ``None``.
    """
    if not session_key:
        return None
    return _hmac(session_key)


def _hmac(session_key: str) -> str:
    return salted_hmac(_SESSION_ID_SALT, session_key, algorithm="sha256").hexdigest()


def _existing_key(request: HttpRequest) -> str | None:
    """The Django session key the request already has (from its cookie): no query."""
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None) if session is not None else None
    return key if isinstance(key, str) and key else None


def _key_is_the_data(session: Any) -> bool:
    """Whether the store's key is its signed data (``signed_cookies``), not a random id."""
    from django.contrib.sessions.backends.signed_cookies import SessionStore

    return isinstance(session, SessionStore)


def _in_session_transaction(session: Any) -> bool:
    """Whether saving ``session`` now would write inside an atomic block of its database.

    Only database-backed stores (``db``, ``cached_db`` and their subclasses, which have a
    ``model``) are affected; cache, file and signed-cookie stores are not transactional.
    """
    model = getattr(type(session), "get_model_class", None)
    if model is None:
        return False
    using = router.db_for_write(model())
    return bool(transaction.get_connection(using).in_atomic_block)


class SessionResolver:
    """The lazy session of one request: a zero-argument callable, and :meth:`aresolve`.

    Resolves once per request, whichever path comes first; the other path gets the same id.
    """

    __slots__ = ("_created_in_atomic", "_headers_sent", "_lock", "_request", "_settings", "_value")

    def __init__(self, request: HttpRequest, settings: VokerSettings) -> None:
        self._request = request
        self._settings = settings
        self._value: str | None = None
        self._lock = threading.Lock()
        self._headers_sent = False
        # The key of a session created inside a transaction, checked by ensure_saved().
        self._created_in_atomic: str | None = None

    @property
    def needs_django_session(self) -> bool:
        """Whether resolving would create a Django session (a browser without the cookie)."""
        session = getattr(self._request, "session", None)
        return self._value is None and session is not None and not session.session_key

    def headers_sent(self) -> None:
        """From now on create no Django session: its cookie could no longer reach the browser."""
        self._headers_sent = True

    def ensure_saved(self) -> None:
        """After the view: re-create the session this resolver created inside a transaction, if
        a rollback took its row away (see the module docstring).

        Never raises: a failure is logged, and the browser simply starts a new Voker session on
        its next request.
        """
        key, self._created_in_atomic = self._created_in_atomic, None
        if key is None:
            return
        session = self._request.session
        try:
            if session.session_key != key or session.exists(key):
                return  # rotated or flushed by the view (its key wins), or committed
            # As SessionBase.create() does, with the key the events already use; must_create
            # refuses to overwrite a row made meanwhile.
            session.save(must_create=True)
            session.modified = True  # SessionMiddleware sends the cookie
        except Exception:
            logger.warning("voker: could not save the new Django session", exc_info=True)

    @property
    def created_in_atomic(self) -> bool:
        """Whether :meth:`ensure_saved` has a session to check."""
        return self._created_in_atomic is not None

    def _django_session_key(self) -> str | None:
        """The request's Django session key, creating the session if it has none."""
        session = getattr(self._request, "session", None)
        if session is None:
            return None
        key = session.session_key
        if not key:
            in_atomic = _in_session_transaction(session)
            if _key_is_the_data(session):
                # Two browsers whose sessions hold the same data, saved in the same second,
                # would get the same key, and so one Voker conversation between them.
                session[_NONCE] = secrets.token_hex(8)
            # Creates the session (and its key); SessionMiddleware sees it modified and sends
            # the cookie with the response.
            session.save()
            key = session.session_key
            if in_atomic:
                self._created_in_atomic = key
        return key if isinstance(key, str) and key else None

    def __call__(self) -> str:
        if self._value is not None:
            return self._value
        with self._lock:
            if self._value is None:
                self._value = self._resolve()
        return self._value

    async def aresolve(self) -> str:
        """Like calling the resolver, without blocking the event loop on a query.

        A key the request already has is returned at once; creating a session (or calling
        ``SESSION_ID``) runs the synchronous path through ``sync_to_async``, like Django's own
        async ORM: the same lock and value, so every caller, sync or async, gets the one id.
        (Concurrent awaiters within a request's context already share one call: the context's
        lazy value does that.) Sync, not Django's ``asave()``: that is what SessionMiddleware
        will call, and a custom store overriding ``save()``/``create()`` behaves the same on
        both paths.
        """
        if self._value is not None or _existing_key(self._request) is not None:
            return self()  # no query: the cookie's key through the shared once-guard
        return await sync_to_async(self.__call__)()

    def _resolve(self) -> str:
        request = self._request
        if getattr(request, "session", None) is not None:
            try:
                key = _existing_key(request)
                if key is None and not self._headers_sent:
                    key = call_blocking(self._django_session_key)
            except Exception:
                logger.warning("voker: could not read or create the Django session", exc_info=True)
            else:
                if key:
                    return _hmac(key)
                if self._headers_sent:
                    self._log_late()
        if self._settings.session_id is not None:
            session_id = self._settings.session_id
            try:
                value: Any = returned(call_blocking(lambda: session_id(request)), "SESSION_ID")
            except Exception:
                logger.warning("voker: settings.VOKER['SESSION_ID'] raised", exc_info=True)
            else:
                if value is not None and str(value).strip():
                    return str(value)
        global _warned_no_source
        if not _warned_no_source and not self._headers_sent:
            _warned_no_source = True
            logger.warning(
                "voker: no session for this request (no %s header, no Django session, no "
                "settings.VOKER['SESSION_ID']); each such request gets a session of its own",
                self._settings.session_header,
            )
        return "request-" + uuid.uuid4().hex

    def _log_late(self) -> None:
        # A streamed body of an unmarked view recorded for a visitor without a session cookie.
        global _warned_late
        path = getattr(self._request, "path", "?")
        if _warned_late:
            logger.debug("voker: %s recorded after its headers were sent; no session", path)
            return
        _warned_late = True
        logger.warning(
            "voker: the streamed response of %s recorded an event after its headers were sent, "
            "for a visitor without a session: it gets a session of its own (no cookie could "
            "be set). Decorate the view with @voker_django.streams_llm or "
            "@voker_django.agent(...) to create the session before the headers leave.",
            path,
        )
