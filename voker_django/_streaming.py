"""Keep a Voker context around the body of a streaming response.

A ``StreamingHttpResponse`` body is produced after the view (and the middleware) returned, by
the server iterating it — a chat view that streams an LLM answer makes its LLM call then. So the
middleware and the :func:`voker_django.agent` decorator run that iteration inside their context,
in a context of its own (:mod:`voker_core._within`: nothing leaks into the server's code)::

    response = bind_streaming(response, lambda: voker_core.context(agent="support-bot"))

Whether such a body records at all cannot be known before it runs, and a session created after
the headers left never reaches the browser. So views that declare it — :func:`voker_django.agent`,
:func:`voker_django.streams_llm` — :func:`mark_records` their response, and the middleware
creates a first-time visitor's session before the headers leave for those only.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.http import FileResponse

from voker_core._within import EnterContext, aiter_within, iter_within

__all__ = ["bind_streaming", "mark_records", "records"]

R = TypeVar("R")

_RECORDS_ATTR = "_voker_records"


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
    """Make ``response``'s streamed body run inside ``enter()``; other responses pass as they are.

    File responses are left alone (they call no LLM, and rewrapping would disable the server's
    ``wsgi.file_wrapper``).
    """
    if not getattr(response, "streaming", False) or isinstance(response, FileResponse):
        return response
    content: Any = response.streaming_content  # type: ignore[attr-defined]
    if getattr(response, "is_async", False):
        response.streaming_content = aiter_within(enter, content)  # type: ignore[attr-defined]
    else:
        response.streaming_content = iter_within(enter, content)  # type: ignore[attr-defined]
    return response
