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
and the user is read with ``await request.auser()``. Nothing here talks to Voker, so a Voker
outage cannot slow down or fail a request. Streaming responses keep the context while their
body is produced (and get their session cookie before the headers leave, if they need one).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponseBase

import voker_core
from voker_django._streaming import bind_streaming
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
        # A streamed body may record events after the headers (and the session cookie) are
        # gone: create the session while SessionMiddleware can still send its cookie.
        return (
            response.streaming
            and isinstance(self.session, SessionResolver)
            and self.session.needs_django_session
        )


class VokerMiddleware:
    """Puts the request's Voker context around the view (see the module docstring)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)
        get_settings()  # a bad settings.VOKER fails the server's start, not a request

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        state = _Request(request)
        with state.enter():
            response = self.get_response(request)
        if state.needs_session_before_headers(response):
            _resolve_quietly(state)
        return bind_streaming(response, state.enter)

    async def __acall__(self, request: HttpRequest) -> Any:
        state = _Request(request)
        get_response: Callable[[HttpRequest], Awaitable[Any]] = self.get_response
        with state.enter():
            response = await get_response(request)
        if state.needs_session_before_headers(response):
            await sync_to_async(_resolve_quietly)(state)
        return bind_streaming(response, state.enter)


def _resolve_quietly(state: _Request) -> None:
    try:
        if callable(state.session):
            state.session()
    except Exception:  # the resolver logs its own failures; never fail the response
        logger.warning(
            "voker: could not prepare the session of a streaming response", exc_info=True
        )
