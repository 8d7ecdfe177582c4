"""``@voker.agent("name", version=None)``: which agent handles a view, a class view or a blueprint.

::

    @app.post("/support")
    @voker.agent("support-bot", version="v2")      # one view (sync or async)
    def support(): ...

    @voker.agent("billing-bot")                   # a class-based view (View / MethodView)
    class Billing(MethodView): ...

    admin = Blueprint("admin", __name__)
    voker.agent("admin-bot")(admin)               # every request routed to the blueprint

The innermost choice wins: a view's decorator beats its blueprint's (and a nested blueprint's
beats its parent's), which beats the app's ``VOKER_AGENT``. A blueprint must be decorated before
it is registered on an app (Flask's own rule for blueprint hooks). On a view, put
``@voker.agent`` *below* the route decorator, as with any view decorator: the route registers
whatever function is beneath it.

A streamed response's body (produced after the view returned) keeps the view's and the
blueprint's agent: the extension finds the view's choice again with :func:`view_agent`.

``@voker.agent`` on a view (not on a blueprint, whose views may well be CSV exports) also
declares that the view's streamed body records, as :func:`streams_llm` does for a view that
keeps the app's or blueprint's agent::

    @app.post("/chat/stream")
    @voker.streams_llm
    def chat_stream():
        return Response(generate())          # generate() calls the model

A declared view's streamed response gets its session (the cookie) and person before the headers
leave, while the request is still there; see :mod:`voker_flask.extension`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, current_app
from flask.views import View

import voker_core

__all__ = [
    "AGENT_ATTRIBUTE",
    "STREAMS_ATTRIBUTE",
    "agent",
    "declares_records",
    "streams_llm",
    "view_agent",
]

logger = logging.getLogger("voker.flask")

T = TypeVar("T")

# Where @voker.agent leaves its (agent, version) on a view function or a View class.
AGENT_ATTRIBUTE = "__voker_agent__"
# Where @voker.streams_llm leaves its mark on a view function or a View class.
STREAMS_ATTRIBUTE = "__voker_streams_llm__"


def _blueprint_hook(name: str, version: str | None) -> Callable[[], None]:
    def set_blueprint_agent() -> None:
        state = current_app.extensions.get("voker")
        if state is None:
            logger.warning(
                "voker: blueprint agent %r is set but Voker is not initialised on app %r; "
                "call Voker(app) or voker.init_app(app)",
                name,
                current_app.name,
            )
            return
        state.enter(agent=name, agent_version=version)

    set_blueprint_agent.__name__ = f"voker_agent_{name}"
    return set_blueprint_agent


class _ClassAgent:
    """The entry ``@voker.agent`` puts in a class-based view's ``decorators``.

    Marked by its type so that a subclass decorated again can drop its parent's entry: the
    subclass's choice is the narrower one and must win, whatever the order of ``decorators``.
    """

    __slots__ = ("_ctx",)

    def __init__(self, ctx: voker_core.context) -> None:
        self._ctx = ctx

    def __call__(self, view: Callable[..., Any]) -> Callable[..., Any]:
        return self._ctx(view)


def agent(name: str, version: str | None = None) -> Callable[[T], T]:
    """Decorate a view function, a class-based view or a blueprint with its agent (and version).

    Raises ``TypeError``/``ValueError`` at decoration time for a bad name.
    """
    # One validation, the context's own: bad names fail at import time, not per request.
    ctx = voker_core.context(agent=name, agent_version=version)
    choice = (name, version)

    def decorate(target: T) -> T:
        if isinstance(target, Blueprint):
            target.before_request(_blueprint_hook(name, version))
            return target
        if isinstance(target, type) and issubclass(target, View):
            # View.as_view applies these to the view function it builds. A parent's entry is
            # dropped (a new list: the parent keeps its own), so the subclass's agent wins.
            inherited: list[Callable[..., Any]] = list(getattr(target, "decorators", []))
            kept = [d for d in inherited if not isinstance(d, _ClassAgent)]
            target.decorators = [*kept, _ClassAgent(ctx)]
            setattr(target, AGENT_ATTRIBUTE, choice)  # read by view_agent (subclass wins)
            return target
        if callable(target):
            wrapped = ctx(target)
            # functools.wraps (used by the context) copied an inner @voker.agent's mark: the
            # innermost choice is the one in effect, so it is kept.
            if getattr(target, AGENT_ATTRIBUTE, None) is None:
                setattr(wrapped, AGENT_ATTRIBUTE, choice)
            return wrapped
        raise TypeError(
            "voker.agent(...) decorates a view function, a View class or a Blueprint, "
            f"got {type(target).__name__}"
        )

    return decorate


def view_agent(view: Callable[..., Any] | None) -> tuple[str, str | None] | None:
    """The ``(agent, version)`` that ``@voker.agent`` gave a registered view function, if any.

    A streamed body runs after the view's own decorator has returned; the extension reads the
    choice back from the view Flask routed the request to. A class-based view's class (inside
    the function ``as_view`` built) comes first, as it is the innermost; ``@voker.agent``
    marks survive decorators that use ``functools.wraps``.
    """
    if view is None:
        return None
    view_class = getattr(view, "view_class", None)
    choice = getattr(view_class, AGENT_ATTRIBUTE, None) if view_class is not None else None
    if choice is None:
        choice = getattr(view, AGENT_ATTRIBUTE, None)
    if isinstance(choice, tuple) and len(choice) == 2:
        return choice
    return None


def streams_llm(target: T) -> T:
    """Declare that a view function's or a class-based view's streamed body records events.

    Only marks ``target`` and returns it (the mark survives decorators that use
    ``functools.wraps``); a subclass of a marked class is marked too. Raises ``TypeError`` for
    anything else - a blueprint included: mark its streaming views, not the exports beside them.
    """
    is_view_class = isinstance(target, type) and issubclass(target, View)
    if not callable(target) or (isinstance(target, type) and not is_view_class):
        raise TypeError(
            f"voker.streams_llm decorates a view function or a View class, got {target!r}"
        )
    setattr(target, STREAMS_ATTRIBUTE, True)
    return target


def declares_records(view: Callable[..., Any] | None) -> bool:
    """Whether a registered view declared that its streamed body records (see the module doc):
    ``@voker.streams_llm`` or ``@voker.agent`` on it or on its class."""
    if view is None:
        return False
    view_class = getattr(view, "view_class", None)
    if view_class is not None and getattr(view_class, STREAMS_ATTRIBUTE, False):
        return True
    return bool(getattr(view, STREAMS_ATTRIBUTE, False)) or view_agent(view) is not None
