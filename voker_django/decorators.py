"""``voker_django.agent``: the agent (and version) of one view, overriding the settings' default.

Works on function views and class-based views, sync or async::

    import voker_django

    @voker_django.agent("billing-bot", version="v2")
    def invoice_help(request): ...

    @voker_django.agent("billing-bot")
    async def invoice_help_async(request): ...

    @voker_django.agent("search-bot")
    class SearchView(View): ...

    # or, Django style, on a method:
    @method_decorator(voker_django.agent("search-bot"), name="dispatch")
    class SearchView(View): ...

It sets the agent (session and person still come from
:class:`~voker_django.middleware.VokerMiddleware`) for the view, for the rendering of the
``TemplateResponse`` it returns (rendered by Django's handler after the view returned, as with
every generic class-based view: a template's callable or tag may call a model), and for a
streamed response's body. It also declares that the view talks to a model:
a streamed response of a decorated view gets a first-time visitor's session before its headers
leave, so an LLM call made while the body streams keeps the browser's session. A version left as
``None`` means the agent's default version (the settings' ``AGENT_VERSION`` belongs to the
settings' ``AGENT``). On a class, a subclass decorated again wins over its parent.

``voker_django.streams_llm`` declares only the latter, for a streaming view that keeps the
settings' agent::

    @voker_django.streams_llm
    def chat_stream(request):
        return StreamingHttpResponse(answer_tokens(request))   # calls the model while streaming

Undeclared streaming views (a CSV export, a non-LLM event stream) stay lazy: no session, no
query, no cookie; see :mod:`voker_django.middleware`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, cast

from asgiref.sync import iscoroutinefunction
from django.template.response import SimpleTemplateResponse

import voker_core
from voker_django._streaming import bind_streaming, mark_records

__all__ = ["agent", "streams_llm"]

V = TypeVar("V")

_CLASS_ATTR = "_voker_agent"
_WRAPPED_MARK = "_voker_agent_dispatch"


def _check(value: Any, name: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"voker_django.agent: {name} must be a non-empty string, got {value!r}")


def _wrap(func: Callable[..., Any], spec: Callable[[Any], tuple[str, str | None]]) -> Any:
    """Run ``func`` (and its response's deferred rendering or streamed body) inside the agent's
    context; mark a streamed response as one that records
    (:func:`~voker_django._streaming.mark_records`).

    ``spec(args)`` gives ``(agent, version)`` at call time (a class's dispatch looks it up on
    ``type(self)``).
    """

    def enter(args: tuple[Any, ...]) -> Callable[[], voker_core.context]:
        name, version = spec(args)
        return lambda: voker_core.context(agent=name, agent_version=version)

    if iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_view(*args: Any, **kwargs: Any) -> Any:
            factory = enter(args)
            with factory():
                response = await func(*args, **kwargs)
            return _bind(response, factory)

        return async_view

    @functools.wraps(func)
    def view(*args: Any, **kwargs: Any) -> Any:
        factory = enter(args)
        with factory():
            result = func(*args, **kwargs)
        if inspect.isawaitable(result):
            # An async class-based view: dispatch() returns the handler's coroutine.
            return _await_within(factory, result)
        return _bind(result, factory)

    return view


async def _await_within(factory: Callable[[], voker_core.context], awaitable: Any) -> Any:
    with factory():
        response = await awaitable
    return _bind(response, factory)


def _bind(response: Any, factory: Callable[[], voker_core.context]) -> Any:
    """What of ``response`` runs after the view returned, run inside ``factory()``."""
    if isinstance(response, SimpleTemplateResponse) and not response.is_rendered:
        _render_within(response, factory)
    return bind_streaming(mark_records(response), factory)


_NO_RENDER = object()


def _render_within(response: SimpleTemplateResponse, enter: Callable[[], Any]) -> None:
    """Make ``response.render()`` (Django's handler calls it after the view) run inside
    ``enter()``.

    An instance attribute over the class's method, which takes itself off when called: nothing
    of it is left on the response once rendering starts — post-render callbacks may pickle the
    response (the cache middleware does), and a closure cannot be pickled. One set before (by
    another decorated view inside this one) is put back, and runs inside this one's context.
    """
    previous = vars(response).get("render", _NO_RENDER)

    def render() -> Any:
        if previous is _NO_RENDER:
            vars(response).pop("render", None)
        else:
            setattr(response, "render", previous)  # noqa: B010 - mypy: "cannot assign to a method"
        with enter():
            return response.render()

    setattr(response, "render", render)  # noqa: B010 - as above


def _decorate_class(cls: type[Any], name: str, version: str | None) -> type[Any]:
    setattr(cls, _CLASS_ATTR, (name, version))
    dispatch = cls.__dict__.get("dispatch")
    inherited = getattr(cls, "dispatch", None)
    if dispatch is None and getattr(inherited, _WRAPPED_MARK, False):
        return cls  # a parent's wrapped dispatch already reads the attribute set above
    if inherited is None:
        raise TypeError(f"voker_django.agent: {cls.__name__} has no dispatch() method")

    def spec(args: tuple[Any, ...]) -> tuple[str, str | None]:
        return cast("tuple[str, str | None]", getattr(type(args[0]), _CLASS_ATTR))

    wrapped = _wrap(inherited, spec)
    setattr(wrapped, _WRAPPED_MARK, True)
    cls.dispatch = wrapped
    return cls


def agent(name: str, version: str | None = None) -> Callable[[V], V]:
    """Decorate a view (function or class) so its LLM calls belong to agent ``name``."""
    _check(name, "name")
    if version is not None:
        _check(version, "version")

    def decorate(view: V) -> V:
        if isinstance(view, type):
            return cast(V, _decorate_class(view, name, version))
        if not callable(view):
            raise TypeError(f"voker_django.agent decorates views, got {view!r}")
        return cast(V, _wrap(view, lambda _args: (name, version)))

    return decorate


def _marking(func: Callable[..., Any]) -> Any:
    """``func``, marking the streamed responses it returns (sync, async, or an async CBV's
    dispatch returning a coroutine)."""
    if iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_view(*args: Any, **kwargs: Any) -> Any:
            return mark_records(await func(*args, **kwargs))

        return async_view

    @functools.wraps(func)
    def view(*args: Any, **kwargs: Any) -> Any:
        result = func(*args, **kwargs)
        if inspect.isawaitable(result):
            return _amark(result)
        return mark_records(result)

    return view


async def _amark(awaitable: Any) -> Any:
    return mark_records(await awaitable)


def streams_llm(view: V) -> V:
    """Decorate a view (function or class) whose streamed body calls a model or records events.

    Its first-time visitors get their Django session (and cookie) before the headers leave; see
    the module docstring. Views decorated with :func:`agent` need not say it again.
    """
    if isinstance(view, type):
        cls: type[Any] = view
        dispatch = getattr(cls, "dispatch", None)
        if dispatch is None:
            raise TypeError(f"voker_django.streams_llm: {cls.__name__} has no dispatch() method")
        cls.dispatch = _marking(dispatch)
        return cast(V, cls)
    if not callable(view):
        raise TypeError(f"voker_django.streams_llm decorates views, got {view!r}")
    return cast(V, _marking(view))
