"""Keep the request's Voker context around the body of a streamed Flask response.

Flask runs the teardown functions (which leave the request's Voker context) as soon as the view
and the ``after_request`` functions are done - before the WSGI server iterates a streamed body
(``return Response(generate())``), and the usual streaming-chat view makes its LLM call in that
body. So the extension wraps such a body (:class:`StreamedBody`): each step of the iteration
runs inside the request's context, and only the step (nothing leaks into the server's code).

The request itself is not re-entered: popping it again would run the app's teardown functions
a second time, in the middle of the body (an app that wants the request for the whole body uses
Flask's ``stream_with_context``). Lazy sources that need the request are resolved before the
headers leave for views that declare their body records
(:func:`voker_flask.agents.streams_llm`); see :meth:`voker_flask.extension.VokerState.bind_body`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

from voker_core._within import EnterContext, iter_within
from voker_core.context import VokerContext, restored

__all__ = ["StreamedBody", "reenter"]


def reenter(effective: VokerContext) -> EnterContext:
    """``enter`` for :class:`StreamedBody`: makes ``effective`` (the request's context, view
    agent included) current again, its lazy session and person shared with the request."""
    return functools.partial(restored, effective)


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
