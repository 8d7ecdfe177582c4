"""Keep a Voker context around the body of a streaming response.

A ``StreamingHttpResponse`` body is produced after the view (and the middleware) returned, by
the server iterating it — a chat view that streams an LLM answer makes its LLM call then. So the
middleware and the :func:`voker_django.agent` decorator run that iteration inside their context,
keeping that context to the body (:mod:`voker_core._within`: nothing leaks into the server's
code)::

    response = bind_streaming(response, lambda: voker_core.context(agent="support-bot"))

Whether such a body records at all cannot be known before it runs, and a session created after
the headers left never reaches the browser. So views that declare it — :func:`voker_django.agent`,
:func:`voker_django.streams_llm` — :func:`mark_records` their response, and the middleware
creates a first-time visitor's session before the headers leave for those only.

A client that goes away mid-stream makes the server close the response, and a view's body may
clean up then (a ``finally:`` or ``with`` exit recording that the answer was cut off, say): that
clean-up runs inside the context too. Django closes the body it was given first (its ``close``
is in ``response._resource_closers``), before any wrapper's, so :func:`bind_streaming` wraps
that body itself (``response._iterator``, not Django's ``make_bytes`` map over it, which cannot
close it), puts the wrapper's close first (a started generator is closed with the Voker
context its steps ran in) and runs the closers registered before inside ``enter()`` (a body never
iterated, as for ``HEAD``, or one that is not a generator). An async body has no ``close``, and
Django leaves it to the event loop's async-generator finaliser, in no particular order (the
original may be finalised before the wrapper); so the wrapper gets a closer that closes it on
the loop (Django's ASGI handler calls ``response.close()`` through ``sync_to_async``). Those
attributes are Django's private ones (5.2 to 6.1 have them): a Django without them gets the
public ``streaming_content`` wrapped, as before, and its body's clean-up outside the context.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import AsyncGeneratorType
from typing import Any, TypeVar

from asgiref.sync import async_to_sync
from django.http import FileResponse

from voker_core._within import EnterContext, aiter_within, iter_within
from voker_django._sync import in_event_loop

__all__ = ["bind_streaming", "mark_records", "records"]

R = TypeVar("R")

_RECORDS_ATTR = "_voker_records"

# How a response's raw iterator is stepped, by ``response.is_async``.
_STEP = {False: "__next__", True: "__anext__"}


def mark_records(response: R) -> R:
    """Mark ``response`` as one whose streamed body may record events (see the module docstring)."""
    if getattr(response, "streaming", False):
        try:
            setattr(response, _RECORDS_ATTR, True)
        except AttributeError:  # a response class with __slots__: it stays lazy
            pass
    return response


def records(response: Any) -> bool:
    """Whether ``response`` was marked by :func:`mark_records`."""
    return bool(getattr(response, _RECORDS_ATTR, False))


def bind_streaming(response: R, enter: EnterContext) -> R:
    """Make ``response``'s streamed body, its clean-up included, run inside ``enter()``; other
    responses pass as they are (see the module docstring).

    File responses are left alone (they call no LLM, and rewrapping would disable the server's
    ``wsgi.file_wrapper``).
    """
    if not getattr(response, "streaming", False) or isinstance(response, FileResponse):
        return response
    target: Any = response
    is_async = bool(getattr(target, "is_async", False))
    closers = getattr(target, "_resource_closers", None)
    original = getattr(target, "_iterator", None)
    if not isinstance(closers, list) or not hasattr(original, _STEP[is_async]):
        # Not the Django internals this module knows: wrap the public content only.
        target.streaming_content = _wrap(enter, target.streaming_content, is_async)
        return response
    earlier = list(closers)
    wrapper = _wrap(enter, original, is_async)
    target.streaming_content = wrapper  # appends the wrapper's close(), if it has one
    if target._resource_closers is closers and closers[: len(earlier)] == earlier:
        first = _aclose_from_sync(wrapper) if is_async else wrapper.close
        closers[:] = [first, *(functools.partial(_close_within, enter, c) for c in earlier)]
    return response


def _wrap(enter: EnterContext, content: Any, is_async: bool) -> Any:
    return aiter_within(enter, content) if is_async else iter_within(enter, content)


def _close_within(enter: EnterContext, close: Callable[[], object]) -> None:
    """``close()`` inside ``enter()``."""
    with enter():
        close()


def _aclose_from_sync(wrapper: AsyncGeneratorType[Any, Any]) -> Callable[[], None]:
    """A closer (for Django's synchronous ``response.close()``) that closes ``wrapper``."""

    def close() -> None:
        if wrapper.ag_frame is None:
            return  # finished (streamed to its end, or closed already): nothing to do
        if in_event_loop():
            # Called on the loop itself (Django's test AsyncClient does): it cannot wait here,
            # and the loop's async-generator finaliser will close the wrapper.
            return
        # From sync_to_async's thread (Django's ASGI handler), on the request's event loop.
        async_to_sync(aclose)()

    async def aclose() -> None:
        await wrapper.aclose()

    return close
