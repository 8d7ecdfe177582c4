"""``VokerMiddleware``: every LLM call made while serving a request gets its session and person.

Add it after the session and authentication middleware::

    MIDDLEWARE = [
        ...
        "django.contrib.sessions.middleware.SessionMiddleware",
        ...
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        ...
        "voker_django.middleware.VokerMiddleware",
    ]

Around each request it enters ``voker_core.context(session=..., person=..., agent=...,
agent_version=...)``: the wrapped provider clients, the LangChain handler and
``VokerClient.events.create`` read it, so views pass no ``voker_*`` arguments. Session and person
are lazy (see :mod:`voker_django.sessions` and :mod:`voker_django.people`): a request that
records nothing runs no extra query. The agent and version are ``settings.VOKER["AGENT"]`` /
``["AGENT_VERSION"]``, overridden per view by :func:`voker_django.agent`.

Sync and async capable: under ASGI an async view runs in the event loop with no thread hop,
the user is read with ``await request.auser()`` and a session is created through
``sync_to_async`` (:meth:`SessionResolver.aresolve`). Nothing here talks to Voker, so a Voker
outage cannot slow down or fail a request.

Streaming responses keep the context while their body is produced. Whether that body will
record cannot be known before it runs, and a Django session created after the headers left
never reaches the browser. So a first-time visitor's session is created before the headers
leave only for streamed responses of views that declare they record
(:func:`voker_django.agent`, :func:`voker_django.streams_llm`); any other streamed response (a
CSV export, a non-LLM event stream) stays lazy — no query, no cookie — and should its body
record after all, it uses the key Django already has, else ``SESSION_ID``, else an id of its
own (logged: a warning once per process, then at debug).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseBase

import voker_core
from voker_django._streaming import bind_streaming, records
from voker_django.conf import get_settings
from voker_django.people import PersonResolver
from voker_django.sessions import SessionResolver, header_session

__all__ = ["VokerMiddleware"]

logger = logging.getLogger("voker.django")

GetResponse = Callable[[HttpRequest], Any]


class _Request:
    """The context arguments of one request (and what a streaming body needs later)."""

    __slots__ = ("kwargs", "session")

    def __init__(self, request: HttpRequest) -> None:
        settings = get_settings()
        session: str | SessionResolver | None = header_session(request, settings)
        if session is None:
            session = SessionResolver(request, settings)
        self.session = session
        self.kwargs: dict[str, Any] = {
            "session": session,
            "person": PersonResolver(request),
            "agent": settings.agent,
            "agent_version": settings.agent_version,
        }

    def enter(self) -> voker_core.context:
        return voker_core.context(**self.kwargs)

    def needs_session_before_headers(self, response: HttpResponseBase) -> bool:
        # A declared streamed body records events after the headers (and the session cookie)
        # are gone: create the session while SessionMiddleware can still send its cookie.
        return (
            response.streaming
            and records(response)
            and isinstance(self.session, SessionResolver)
            and self.session.needs_django_session
        )

    def ensure_session_saved(self) -> None:
        # A first-time visitor's session created inside the view's transaction survives its
        # rollback (see voker_django.sessions), before SessionMiddleware saves it again.
        if isinstance(self.session, SessionResolver):
            self.session.ensure_saved()

    @property
    def session_created_in_atomic(self) -> bool:
        return isinstance(self.session, SessionResolver) and self.session.created_in_atomic

    def headers_sent(self) -> None:
        # Whatever resolves the session from now on (a streamed body, a task the view left
        # running) must not create a Django session whose cookie can no longer be sent.
        if isinstance(self.session, SessionResolver):
            self.session.headers_sent()


class VokerMiddleware:
    """Puts the request's Voker context around the view (see the module docstring)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)
        if not apps.is_installed("voker_django"):
            # Without the app nothing reads settings.VOKER at start-up (API key, base URL,
            # agents): every event would be discarded or sent elsewhere without a word. The
            # server's start (it builds the middleware chain) is the place to say so.
            raise ImproperlyConfigured(
                '"voker_django.middleware.VokerMiddleware" is in MIDDLEWARE but "voker_django" '
                'is not in INSTALLED_APPS: add "voker_django" to INSTALLED_APPS.'
            )
        get_settings()  # a bad settings.VOKER fails the server's start, not a request

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        state = _Request(request)
        with state.enter():
            response = self.get_response(request)
        if state.needs_session_before_headers(response):
            _resolve_quietly(state)
        if state.session_created_in_atomic and response.status_code != 500:
            state.ensure_session_saved()
        state.headers_sent()
        return bind_streaming(response, state.enter)

    async def __acall__(self, request: HttpRequest) -> Any:
        state = _Request(request)
        get_response: Callable[[HttpRequest], Awaitable[Any]] = self.get_response
        with state.enter():
            response = await get_response(request)
        if state.needs_session_before_headers(response):
            await _aresolve_quietly(state)
        # Not for a 500, whose session SessionMiddleware does not save either. A query: off
        # the event loop, as Django's own ORM calls.
        if state.session_created_in_atomic and response.status_code != 500:
            await sync_to_async(state.ensure_session_saved)()
        state.headers_sent()
        return bind_streaming(response, state.enter)


def _resolve_quietly(state: _Request) -> None:
    try:
        if isinstance(state.session, SessionResolver):
            state.session()
    except Exception:  # the resolver logs its own failures; never fail the response
        logger.warning(
            "voker: could not prepare the session of a streaming response", exc_info=True
        )


async def _aresolve_quietly(state: _Request) -> None:
    try:
        if isinstance(state.session, SessionResolver):
            await state.session.aresolve()
    except Exception:  # the resolver logs its own failures; never fail the response
        logger.warning(
            "voker: could not prepare the session of a streaming response", exc_info=True
        )
