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
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, current_app
from flask.views import View

import voker_core

__all__ = ["agent"]

logger = logging.getLogger("voker.flask")

T = TypeVar("T")


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


def agent(name: str, version: str | None = None) -> Callable[[T], T]:
    """Decorate a view function, a class-based view or a blueprint with its agent (and version).

    Raises ``TypeError``/``ValueError`` at decoration time for a bad name.
    """
    # One validation, the context's own: bad names fail at import time, not per request.
    ctx = voker_core.context(agent=name, agent_version=version)

    def decorate(target: T) -> T:
        if isinstance(target, Blueprint):
            target.before_request(_blueprint_hook(name, version))
            return target
        if isinstance(target, type) and issubclass(target, View):
            # View.as_view applies these to the view function it builds.
            decorators: list[Callable[..., Any]] = list(getattr(target, "decorators", []))
            target.decorators = [*decorators, ctx]
            return target
        if callable(target):
            return ctx(target)
        raise TypeError(
            "voker.agent(...) decorates a view function, a View class or a Blueprint, "
            f"got {type(target).__name__}"
        )

    return decorate
