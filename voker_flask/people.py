"""Who the current Flask request is for: the lazy person of the request's Voker context.

The person comes from, in order:

1. a function registered with ``@voker.person_loader`` (sync or ``async``), returning ``None``,
   a person id, or a ``(person_id, properties)`` pair::

       @voker.person_loader
       def current_person():
           if g.user is None:
               return None
           return str(g.user.id), {"email": g.user.email, "plan": g.user.plan}

2. else Flask-Login's ``current_user``, when Flask-Login is installed, a ``LoginManager`` is set
   up on the app and the user is authenticated: id ``current_user.get_id()``, properties the
   user's ``username``, ``email``, ``name``, ``first_name`` and ``last_name`` attributes when they
   hold plain values (nothing else — never a password hash).

It is resolved lazily: only when a wrapped LLM call or ``events.create`` in the request needs it,
at most once per request, so a request that records nothing never loads the user (a streamed
response of a view declaring :func:`~voker_flask.agents.streams_llm` resolves it before its
body runs, while the request is still there). The first time
a process sees a person it sends ``people.create`` then ``people.update`` (the person may exist
with older properties); later ``people.update`` only when the properties change (:mod:`voker_core.people_sync`).
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from flask import current_app, has_app_context, has_request_context

from voker_core.people_sync import people_sync_for
from voker_flask._sync import call_async

if TYPE_CHECKING:
    from voker_core.client import VokerClient

__all__ = ["DEFAULT_USER_ATTRIBUTES", "PersonLoader", "PersonResolver", "normalize_person"]

logger = logging.getLogger("voker.flask")

PersonLoader = Callable[[], Any]

# User attributes copied into a Flask-Login person's properties when they hold plain values.
DEFAULT_USER_ATTRIBUTES = ("username", "email", "name", "first_name", "last_name")

_PLAIN = (str, int, float, bool)


def _is_id(value: Any) -> bool:
    """Whether ``value`` is a person id: a ``str``, an ``int`` (not a ``bool``) or a UUID.

    Deliberately narrow: ``str()`` of anything else - a user object returned by mistake
    (``current_user`` instead of ``current_user.get_id()``), a dict, bytes - is no id anyone
    meant, and would create a junk person per request.
    """
    if isinstance(value, bool):
        return False
    return isinstance(value, (str, int, uuid.UUID))


def normalize_person(result: Any) -> tuple[str, dict[str, Any] | None] | None:
    """Turn what a person loader returned into ``(person_id, properties)``, or ``None``.

    Accepts ``None``, an id or an ``(id, properties)`` pair. An id is a ``str``, an ``int`` or a
    ``uuid.UUID`` primary key, sent as ``str(id)``. Anything else (a ``bool``, a user object, a
    mapping ...) is a mistake, not an id: it is logged and treated as no person, so a mistake
    never breaks a request.
    """
    if result is None:
        return None
    properties: Any = None
    person_id: Any = result
    if isinstance(result, (tuple, list)):
        if len(result) != 2:
            logger.warning(
                "voker: person_loader must return None, an id or (id, properties); got %d items",
                len(result),
            )
            return None
        person_id, properties = result
    if person_id is None:
        return None
    if not _is_id(person_id):
        logger.warning(
            "voker: a person id must be a string, an int or a UUID (e.g. current_user.get_id()), "
            "got %s",
            type(person_id).__name__,
        )
        return None
    person_id = str(person_id)
    if not person_id.strip():
        return None
    if properties is not None and not isinstance(properties, Mapping):
        logger.warning(
            "voker: person properties must be a dict, got %s (ignored)", type(properties).__name__
        )
        properties = None
    return person_id, (dict(properties) if properties is not None else None)


def _flask_login_person() -> tuple[str, dict[str, Any] | None] | None:
    """The authenticated Flask-Login user of this request, if Flask-Login is in use."""
    if getattr(current_app, "login_manager", None) is None:
        return None  # not set up on this app (or not installed): nothing to read
    try:
        from flask_login import current_user
    except ImportError:
        return None
    user = current_user._get_current_object()  # loads the user (once per request)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    properties = {}
    for name in DEFAULT_USER_ATTRIBUTES:
        value = getattr(user, name, None)
        if isinstance(value, _PLAIN):
            properties[name] = value
    return normalize_person((user.get_id(), properties or None))


def _log_failure() -> None:
    """Log a failing person source (call from an ``except`` block)."""
    if has_request_context():
        logger.warning("voker: resolving the request's person failed (ignored)", exc_info=True)
        return
    # Typically the body of a streamed response of an undeclared view, run after its request.
    logger.warning(
        "voker: resolving the person failed outside its request (a streamed body? decorate "
        "the view with @voker.streams_llm so the person is resolved before it) (ignored)",
        exc_info=True,
    )


class PersonResolver:
    """The lazy person source of one app's requests (see the module docstring).

    ``voker_core.context`` calls it (sync code) or awaits :meth:`aresolve` (async code) at most
    once per request. Never raises: a failing loader is logged and the event has no person.
    """

    def __init__(
        self,
        *,
        loader: Callable[[], PersonLoader | None],
        client: Callable[[], VokerClient],
    ) -> None:
        # Both are looked up at resolution time: a loader may be registered after init_app,
        # and the default client may be reconfigured.
        self._loader = loader
        self._client = client

    def __call__(self) -> str | None:
        try:
            loader = self._loader()
            if loader is None:
                return self._finish(self._default())
            # An async loader read from sync code (maybe inside an async view's loop).
            result = call_async(loader) if inspect.iscoroutinefunction(loader) else loader()
            return self._finish(normalize_person(result))
        except Exception:
            _log_failure()
            return None

    async def aresolve(self) -> str | None:
        try:
            loader = self._loader()
            if loader is None:
                return self._finish(self._default())
            result = loader()
            if inspect.isawaitable(result):
                result = await result
            return self._finish(normalize_person(result))
        except Exception:
            _log_failure()
            return None

    @staticmethod
    def _default() -> tuple[str, dict[str, Any] | None] | None:
        if not (has_app_context() and has_request_context()):
            return None  # read outside the request (another thread): no user to ask
        return _flask_login_person()

    def _finish(self, person: tuple[str, dict[str, Any] | None] | None) -> str | None:
        if person is None:
            return None
        person_id, properties = person
        people_sync_for(self._client()).sync(person_id, properties)
        return person_id
