"""Keep a Voker context around the body of a streaming response.

A ``StreamingHttpResponse`` body is produced after the view (and the middleware) returned, by
the server iterating it — a chat view that streams an LLM answer makes its LLM call then. So the
middleware and the :func:`voker_django.agent` decorator re-enter their context around each step
of the iteration (never between steps, so nothing leaks into the server's code)::

    response = bind_streaming(response, lambda: voker_core.context(agent="support-bot"))
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from django.http import FileResponse

__all__ = ["bind_streaming"]

R = TypeVar("R")

EnterContext = Callable[[], AbstractContextManager[Any]]


def _iter_within(enter: EnterContext, iterable: Iterable[Any]) -> Iterator[Any]:
    iterator = iter(iterable)
    while True:
        with enter():
            try:
                chunk = next(iterator)
            except StopIteration:
                return
        yield chunk


async def _aiter_within(enter: EnterContext, iterable: AsyncIterable[Any]) -> AsyncIterator[Any]:
    iterator = iterable.__aiter__()
    while True:
        with enter():
            try:
                chunk = await iterator.__anext__()
            except StopAsyncIteration:
                return
        yield chunk


def bind_streaming(response: R, enter: EnterContext) -> R:
    """Make ``response``'s streamed body run inside ``enter()``; other responses pass as they are.

    File responses are left alone (they call no LLM, and rewrapping would disable the server's
    ``wsgi.file_wrapper``).
    """
    if not getattr(response, "streaming", False) or isinstance(response, FileResponse):
        return response
    content: Any = response.streaming_content  # type: ignore[attr-defined]
    if getattr(response, "is_async", False):
        response.streaming_content = _aiter_within(enter, content)  # type: ignore[attr-defined]
    else:
        response.streaming_content = _iter_within(enter, content)  # type: ignore[attr-defined]
    return response
