"""Run an iterator's steps inside a context manager, in a context of their own.

A generator suspended at a ``yield`` must not leave its Voker context set in the code that
consumes it (the consumer may record events of its own), yet its body must see that context
whenever it runs - including bodies run long after the code that created them has returned: a
streamed HTTP response, produced by the server after the view and its middleware are done.

So one run of an iterator gets a private :class:`contextvars.Context` (a copy of the context
where it is first stepped, as an asyncio task gets one), ``enter()`` is entered in it once, and
every step - ``next``/``send``/``throw``/``close``, for async iterators each resumption of the
awaited step - runs in it. What the body sets itself (a ``with voker_core.context(...)`` held
across its ``yield``) stays set for its next steps, and nothing reaches the consumer::

    body = iter_within(lambda: voker_core.context(session="conv-42"), make_chunks())

Generators keep their whole protocol (values sent in, exceptions thrown in, ``close``, the
return value); other iterators are driven with ``next`` alone.
"""

from __future__ import annotations

import contextvars
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Awaitable,
    Callable,
    Generator,
    Iterable,
)
from contextlib import AbstractContextManager
from typing import Any, TypeVar

__all__ = ["EnterContext", "aiter_within", "iter_within"]

T = TypeVar("T")

EnterContext = Callable[[], AbstractContextManager[Any]]


def _private(enter: EnterContext) -> tuple[contextvars.Context, AbstractContextManager[Any]]:
    """A copy of the current context with ``enter()`` entered in it."""
    private = contextvars.copy_context()
    manager = enter()
    private.run(manager.__enter__)
    return private, manager


def iter_within(enter: EnterContext, iterable: Iterable[T]) -> Generator[T, Any, Any]:
    """A generator yielding ``iterable``'s items, every step run inside ``enter()`` in a
    context private to this run."""
    private, manager = _private(enter)
    try:
        iterator: Any = private.run(iter, iterable)
        is_generator = isinstance(iterator, Generator)
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            try:
                if thrown is not None:
                    item = private.run(iterator.throw, thrown)
                elif is_generator:
                    item = private.run(iterator.send, sent)
                else:
                    item = private.run(next, iterator)
            except StopIteration as stop:
                return stop.value
            thrown = sent = None
            try:
                sent = yield item
            except GeneratorExit:
                if is_generator:
                    private.run(iterator.close)  # its finally blocks run in its context too
                raise
            except BaseException as exc:
                if not is_generator:
                    raise
                thrown = exc
    finally:
        private.run(manager.__exit__, None, None, None)


class _Suspend:
    """Passes what a driven awaitable yielded (an asyncio future, or None) to the event loop,
    and what the loop sends back to the awaitable."""

    __slots__ = ("_yielded",)

    def __init__(self, yielded: Any) -> None:
        self._yielded = yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        return (yield self._yielded)


async def _run_in(private: contextvars.Context, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` with every resumption of it run in ``private``."""
    steps: Any = awaitable.__await__()
    sent: Any = None
    thrown: BaseException | None = None
    while True:
        try:
            if thrown is not None:
                yielded = private.run(steps.throw, thrown)
            else:
                yielded = private.run(steps.send, sent)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        try:
            sent, thrown = await _Suspend(yielded), None
        except BaseException as exc:  # cancellation included: the awaitable decides
            sent, thrown = None, exc


async def aiter_within(enter: EnterContext, iterable: AsyncIterable[T]) -> AsyncGenerator[T, Any]:
    """The async twin of :func:`iter_within` (an async generator's return value is always
    None, so there is none to pass on)."""
    private, manager = _private(enter)
    try:
        iterator: Any = private.run(iterable.__aiter__)
        is_generator = isinstance(iterator, AsyncGenerator)
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            if thrown is not None:
                step = iterator.athrow(thrown)
            elif is_generator:
                step = iterator.asend(sent)
            else:
                step = iterator.__anext__()
            try:
                item = await _run_in(private, step)
            except StopAsyncIteration:
                return
            thrown = sent = None
            try:
                sent = yield item
            except GeneratorExit:
                if is_generator:
                    await _run_in(private, iterator.aclose())
                raise
            except BaseException as exc:
                if not is_generator:
                    raise
                thrown = exc
    finally:
        private.run(manager.__exit__, None, None, None)
