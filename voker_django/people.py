"""The Voker person of a request: the logged-in Django user, resolved only when an event needs it.

:class:`PersonResolver` is what :class:`~voker_django.middleware.VokerMiddleware` hands to
``voker_core.context(person=...)``. It reads nothing until a wrapped LLM call (or a custom
event) asks for the person; then it loads the user — ``request.user``, as the view sees it (on
the async path a value already loaded or assigned is used as it is, and Django's own lazy user
is loaded with ``await request.auser()``, never with a query on the event loop) — and, for an authenticated user, returns the person id and
tells Voker about the person through :func:`voker_core.people_sync.people_sync_for`
(``people.create`` then ``people.update`` the first time a process sees a person,
``people.update`` when the properties change, bounded memory). Anonymous visitors have no person.

Ids and properties come from ``settings.VOKER["PERSON_ID"]`` / ``["PERSON_PROPERTIES"]``
(callables taking the user), by default :func:`default_person_id` and
:func:`default_person_properties`::

    def person_properties(user):                 # settings.VOKER["PERSON_PROPERTIES"]
        return {"email": user.email, "plan": user.profile.plan}

A ``password`` key, or any value equal to the user's password hash, is always removed. A
failing ``PERSON_PROPERTIES`` costs only the properties (logged): the event keeps its person.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from django.utils.functional import LazyObject, empty

from voker_django._sync import call_blocking
from voker_django.conf import get_settings, returned

__all__ = ["PersonResolver", "default_person_id", "default_person_properties", "identify"]

logger = logging.getLogger("voker.django")

_UNSET: Any = object()


def default_person_id(user: Any) -> str:
    """``str(user.pk)``."""
    return str(user.pk)


def default_person_properties(user: Any) -> dict[str, Any]:
    """Username, email, first and last name — whichever the user model has."""
    props: dict[str, Any] = {}
    get_username = getattr(user, "get_username", None)
    if callable(get_username):
        props["username"] = get_username()
    email_field = "email"
    get_email_field_name = getattr(user, "get_email_field_name", None)
    if callable(get_email_field_name):
        email_field = get_email_field_name()
    for prop, attr in (
        ("email", email_field),
        ("first_name", "first_name"),
        ("last_name", "last_name"),
    ):
        value = getattr(user, attr, None)
        if isinstance(value, str):
            props[prop] = value
    return props


def _without_secrets(user: Any, properties: Mapping[str, Any]) -> dict[str, Any]:
    password = getattr(user, "password", None)
    return {
        key: value
        for key, value in properties.items()
        if key != "password" and not (password and isinstance(value, str) and value == password)
    }


def identify(user: Any) -> str | None:
    """The person id of an authenticated ``user``; also syncs the person to Voker (cached).

    Synchronous (it may run the settings' callables, which may query the database).
    """
    from voker_core.client import get_client
    from voker_core.context import current_context
    from voker_core.people_sync import people_sync_for

    settings = get_settings()
    raw_id = returned((settings.person_id or default_person_id)(user), "PERSON_ID")
    if raw_id is None:
        return None
    person_id = str(raw_id)
    if not person_id.strip():
        return None
    try:
        raw_props = returned(
            (settings.person_properties or default_person_properties)(user), "PERSON_PROPERTIES"
        )
    except Exception:
        # The id is known: record the person without properties rather than not at all.
        logger.warning(
            "voker: settings.VOKER['PERSON_PROPERTIES'] raised; person %r sent without properties",
            person_id,
            exc_info=True,
        )
        raw_props = None
    if raw_props is not None and not isinstance(raw_props, Mapping):
        logger.warning(
            "voker: settings.VOKER['PERSON_PROPERTIES'] returned %s, not a dict; ignored",
            type(raw_props).__name__,
        )
        raw_props = None
    properties = _without_secrets(user, raw_props) if raw_props is not None else None
    client = current_context().client or get_client()
    people_sync_for(client).sync(person_id, properties)
    return person_id


def _authenticated(user: Any) -> Any:
    return user if user is not None and user.is_authenticated else None


def _sync_user(request: HttpRequest) -> Any:
    # Evaluating the attribute loads the lazy user (session + user queries) in this thread.
    return _authenticated(getattr(request, "user", None))


def _is_djangos_lazy_user(user: LazyObject[Any]) -> bool:
    """Whether ``user`` is the lazy user Django's ``AuthenticationMiddleware`` set.

    That one loads the session's user, which ``request.auser()`` loads too, asynchronously; any
    other lazy object (a token middleware's, say) may load someone else.
    """
    # From the instance's own dict: getattr() on a LazyObject that lacks the attribute (any
    # subclass but SimpleLazyObject) would load the object, a query, on the event loop.
    setup = vars(user).get("_setupfunc")
    return getattr(setup, "__module__", "") == "django.contrib.auth.middleware"


async def _async_user(request: HttpRequest) -> Any:
    """The user the view sees as ``request.user``, read without a query on the event loop.

    ``request.user`` may have been replaced since the authentication middleware ran — by a
    token-auth middleware, or by ``alogin()`` (which leaves ``auser()``'s cached value behind) —
    so it is what counts, as on the sync path; ``auser()`` is only the way to load Django's own
    lazy user without blocking the loop.
    """
    user = getattr(request, "user", None)
    if isinstance(user, LazyObject):
        wrapped = user._wrapped
        if wrapped is not empty:
            return _authenticated(wrapped)  # already loaded: no query
        auser = getattr(request, "auser", None)
        if auser is not None and _is_djangos_lazy_user(user):
            return _authenticated(await auser())
        # Someone else's lazy user: load it as the sync path would, off the event loop.
        return await sync_to_async(_sync_user)(request)
    if user is not None:
        return _authenticated(user)  # a plain object someone assigned: no query
    auser = getattr(request, "auser", None)
    return _authenticated(await auser()) if auser is not None else None


class PersonResolver:
    """The lazy person of one request (sync ``__call__`` and async :meth:`aresolve`).

    Resolves once; failures are logged and give "no person", never an error in the request.
    """

    __slots__ = ("_lock", "_request", "_value")

    def __init__(self, request: HttpRequest) -> None:
        self._request = request
        self._value: Any = _UNSET
        self._lock = threading.Lock()

    def _resolve(self) -> str | None:
        user = _sync_user(self._request)
        return identify(user) if user is not None else None

    def __call__(self) -> str | None:
        if self._value is not _UNSET:
            return self._value  # type: ignore[no-any-return]
        with self._lock:
            if self._value is _UNSET:
                try:
                    self._value = call_blocking(self._resolve)
                except Exception:
                    logger.warning("voker: could not resolve the request's user", exc_info=True)
                    self._value = None
        return self._value  # type: ignore[no-any-return]

    async def aresolve(self) -> str | None:
        if self._value is not _UNSET:
            return self._value  # type: ignore[no-any-return]
        try:
            user = await _async_user(self._request)
            value = await sync_to_async(identify)(user) if user is not None else None
        except Exception:
            logger.warning("voker: could not resolve the request's user", exc_info=True)
            value = None
        if self._value is _UNSET:
            self._value = value
        return self._value  # type: ignore[no-any-return]
