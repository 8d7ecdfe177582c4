"""Run an iterator's steps inside a context manager, in a context of their own.

A generator suspended at a ``yield`` must not leave its Voker context set in the code that
consumes it (the consumer may record events of its own), yet its body must see that context
whenever it runs - including bodies run long after the code that created them has returned: a
streamed HTTP response, produced by the server after the view and its middleware are done.

So one run of an iterator enters ``enter()`` once, in a copy of the context where it is first
stepped, and keeps the context variables that set (Voker's own) for itself. Every step -
``next``/``send``/``throw``/``close``, for async iterators each resumption of the awaited step -
runs in the caller's context with those variables swapped in, and out again when it yields.
What the body sets of them itself (a ``with voker_core.context(...)`` held across its ``yield``)
stays set for its next steps, and none of it reaches the consumer; any other variable behaves
as in a plain generator::

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


class _Held:
    """The context variables ``enter()`` sets, held for one run of an iterator: each step runs
    in the caller's own context with them swapped in, and swapped out again after it.

    Only those variables: everything else a step sets stays where Python puts it, in the
    caller's context - as a plain generator's would. (A step run in a private copy of the whole
    context breaks code that pairs a context-variable token across the consumer and the body:
    Flask's context stack, pushed by a ``stream_with_context`` body and popped by the test
    client at the end of ``with client:``.)
    """

    __slots__ = ("_values",)

    def __init__(self, values: dict[contextvars.ContextVar[Any], Any]) -> None:
        self._values = values

    def run(self, func: Callable[..., T], *args: Any) -> T:
        values = self._values
        tokens = [(var, var.set(value)) for var, value in values.items()]
        try:
            return func(*args)
        finally:
            # A step runs synchronously, in this same context: the tokens reset here.
            for var, token in reversed(tokens):
                values[var] = var.get()  # as the step left it, for the next one
                var.reset(token)


def _hold(enter: EnterContext) -> tuple[_Held, AbstractContextManager[Any]]:
    """The variables ``enter()`` sets, entered in a copy of the current context."""
    copy = contextvars.copy_context()
    manager = enter()
    copy.run(manager.__enter__)
    here = contextvars.copy_context()
    changed = {
        var: value for var, value in copy.items() if var not in here or here[var] is not value
    }
    return _Held(changed), manager


def iter_within(enter: EnterContext, iterable: Iterable[T]) -> Generator[T, Any, Any]:
    """A generator yielding ``iterable``'s items, every step run inside ``enter()``, whose
    variables are held for this run (see the module docstring)."""
    held, manager = _hold(enter)
    try:
        iterator: Any = held.run(iter, iterable)
        is_generator = isinstance(iterator, Generator)
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            try:
                if thrown is not None:
                    item = held.run(iterator.throw, thrown)
                elif is_generator:
                    item = held.run(iterator.send, sent)
                else:
                    item = held.run(next, iterator)
            except StopIteration as stop:
                return stop.value
            thrown = sent = None
            try:
                sent = yield item
            except GeneratorExit:
                if is_generator:
                    held.run(iterator.close)  # its finally blocks run in its context too
                raise
            except BaseException as exc:
                if not is_generator:
                    raise
                thrown = exc
    finally:
        held.run(manager.__exit__, None, None, None)


class _Suspend:
    """Passes what a driven awaitable yielded (an asyncio future, or None) to the event loop,
    and what the loop sends back to the awaitable."""

    __slots__ = ("_yielded",)

    def __init__(self, yielded: Any) -> None:
        self._yielded = yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        return (yield self._yielded)


async def _run_in(held: _Held, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` with every resumption of it run with ``held``'s variables."""
    steps: Any = awaitable.__await__()
    sent: Any = None
    thrown: BaseException | None = None
    while True:
        try:
            if thrown is not None:
                yielded = held.run(steps.throw, thrown)
            else:
                yielded = held.run(steps.send, sent)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        try:
            sent, thrown = await _Suspend(yielded), None
        except BaseException as exc:  # cancellation included: the awaitable decides
            sent, thrown = None, exc


async def aiter_within(enter: EnterContext, iterable: AsyncIterable[T]) -> AsyncGenerator[T, Any]:
    """The async twin of :func:`iter_within` (an async generator's return value is always
    None, so there is none to pass on)."""
    held, manager = _hold(enter)
    try:
        iterator: Any = held.run(iterable.__aiter__)
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
                item = await _run_in(held, step)
            except StopAsyncIteration:
                return
            thrown = sent = None
            try:
                sent = yield item
            except GeneratorExit:
                if is_generator:
                    await _run_in(held, iterator.aclose())
                raise
            except BaseException as exc:
                if not is_generator:
                    raise
                thrown = exc
    finally:
        held.run(manager.__exit__, None, None, None)
