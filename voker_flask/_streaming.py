"""Keep the request's Voker context around the body of a streamed Flask response.

Flask runs the teardown functions (which leave the request's Voker context) as soon as the view
and the ``after_request`` functions are done - before the WSGI server iterates a streamed body
(``return Response(generate())``), and the usual streaming-chat view makes its LLM call in that
body. So the extension wraps such a body (:class:`StreamedBody`): each step of the iteration
runs inside the request's context, and only the step (nothing leaks into the server's code).

Lazy sources (person, session loader) first read inside such a body may need the request the
body outlived - a ``person_loader`` reading ``g.user`` or ``request.headers``. Under Flask's
``stream_with_context`` they simply have it; otherwise :class:`InRequest` re-enters the
request's app and request contexts for that one call, the way ``stream_with_context`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from flask import has_request_context, stream_with_context

import voker_core
from voker_core._within import EnterContext, iter_within
from voker_core.context import VokerContext

__all__ = ["InRequest", "LaterInRequest", "StreamedBody", "reenter"]

T = TypeVar("T")


class LaterInRequest:
    """Run one function, after the request has ended, inside its app and request contexts.

    Create it while the request is active (it captures the contexts, through Flask's own
    ``stream_with_context``); call it at most once. As with ``stream_with_context``, Flask runs
    the teardown functions again when the contexts are left after that call.
    """

    def __init__(self) -> None:
        func: list[Callable[[], Any]] = []

        def run() -> Iterator[Any]:  # a closure, not a method: no cycle back to self
            yield func[0]()

        self._func = func
        # A primed generator: nothing is pushed until it is resumed, and a LaterInRequest that
        # is never called is garbage collected without touching the contexts.
        self._steps: Iterator[Any] = stream_with_context(run())

    def __call__(self, func: Callable[[], T]) -> T:
        if has_request_context() or self._func:
            return func()  # the request is here already (or the single use is spent)
        self._func.append(func)
        try:
            result: T = next(self._steps)
            return result
        finally:
            close = getattr(self._steps, "close", None)
            if close is not None:
                close()  # leaves the contexts again


class InRequest:
    """A lazy person or session source that can still be read after its request ended.

    Until :meth:`keep_request` is called (the extension does it for streamed responses, in the
    request) it simply calls ``source``. ``aresolve`` passes straight through: Flask bodies are
    synchronous, so async resolution only happens during the view.
    """

    __slots__ = ("_later", "_source")

    def __init__(self, source: Callable[[], Any]) -> None:
        self._source = source
        self._later: LaterInRequest | None = None

    def keep_request(self) -> None:
        """Capture the current request, for a read that comes after it ends."""
        self._later = LaterInRequest()

    def __call__(self) -> Any:
        later = self._later
        if later is None or has_request_context():
            return self._source()
        return later(self._source)

    async def aresolve(self) -> Any:
        aresolve = getattr(self._source, "aresolve", None)
        if aresolve is not None:
            return await aresolve()
        return self._source()


class _SharedPerson:
    """The person of a captured context, still lazy and still resolved at most once."""

    __slots__ = ("_context",)

    def __init__(self, context: VokerContext) -> None:
        self._context = context

    def __call__(self) -> str | None:
        return self._context.resolve_person()

    async def aresolve(self) -> str | None:
        return await self._context.aresolve_person()


def reenter(effective: VokerContext) -> EnterContext:
    """``enter`` for :class:`StreamedBody`: a fresh context equal to ``effective`` each call.

    The session and person stay those of ``effective``, lazy ones included (read through it, so
    they are still resolved once per request, whichever step needs them first).
    """
    person = _SharedPerson(effective) if effective.has_person else None
    properties = dict(effective.properties) or None

    def session() -> str | None:
        return effective.session

    def enter() -> voker_core.context:
        return voker_core.context(
            session=session,
            person=person,
            agent=effective.agent,
            agent_version=effective.agent_version,
            properties=properties,
            client=effective.client,
        )

    return enter


class StreamedBody:
    """A response body whose every step runs inside ``enter()`` (see the module docstring).

    Iterating it drives :func:`voker_core._within.iter_within`; :meth:`close` (which the WSGI
    server calls, via the response, even when the body was never iterated, e.g. for ``HEAD``)
    also closes the original iterable, inside the context too.
    """

    __slots__ = ("_enter", "_original", "_steps")

    def __init__(self, enter: EnterContext, original: Iterable[Any]) -> None:
        self._enter = enter
        self._original = original
        self._steps = iter_within(enter, original)

    def __iter__(self) -> StreamedBody:
        return self

    def __next__(self) -> Any:
        return next(self._steps)

    def close(self) -> None:
        try:
            self._steps.close()  # a started generator is closed inside the context
        finally:
            close = getattr(self._original, "close", None)
            if close is not None:  # a generator already closed ignores a second close
                ctx: AbstractContextManager[Any] = self._enter()
                with ctx:
                    close()
