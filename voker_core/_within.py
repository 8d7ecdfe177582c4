"""Run an iterator's steps - and only its steps - inside a context manager.

A generator suspended at a ``yield`` must not leave its Voker context set in the code that
consumes it (the consumer may record events of its own), yet its body must see that context
whenever it runs - including bodies run long after the code that created them has returned: a
streamed HTTP response, produced by the server after the view and its middleware are done. So
the context is entered around each step (``next``/``send``/``throw``/``close``) and left before
the item is handed on::

    body = iter_within(lambda: voker_core.context(session="conv-42"), make_chunks())

``enter`` is called once per step and must return a fresh context manager each time.
Generators keep their whole protocol (values sent in, exceptions thrown in, ``close``, the
return value); other iterators are driven with ``next`` alone.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, Callable, Generator, Iterable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

__all__ = ["EnterContext", "aiter_within", "iter_within"]

T = TypeVar("T")

EnterContext = Callable[[], AbstractContextManager[Any]]


def iter_within(enter: EnterContext, iterable: Iterable[T]) -> Generator[T, Any, Any]:
    """A generator yielding ``iterable``'s items, each produced inside ``enter()``."""
    iterator: Any = iter(iterable)
    is_generator = isinstance(iterator, Generator)
    sent: Any = None
    thrown: BaseException | None = None
    while True:
        with enter():
            try:
                if thrown is not None:
                    item = iterator.throw(thrown)
                elif is_generator:
                    item = iterator.send(sent)
                else:
                    item = next(iterator)
            except StopIteration as stop:
                return stop.value
        thrown = sent = None
        try:
            sent = yield item
        except GeneratorExit:
            if is_generator:
                with enter():
                    iterator.close()  # its finally blocks run inside the context too
            raise
        except BaseException as exc:
            if not is_generator:
                raise
            thrown = exc


async def aiter_within(enter: EnterContext, iterable: AsyncIterable[T]) -> AsyncGenerator[T, Any]:
    """The async twin of :func:`iter_within` (an async generator's return value is always
    None, so there is none to pass on)."""
    iterator: Any = iterable.__aiter__()
    is_generator = isinstance(iterator, AsyncGenerator)
    sent: Any = None
    thrown: BaseException | None = None
    while True:
        with enter():
            try:
                if thrown is not None:
                    item = await iterator.athrow(thrown)
                elif is_generator:
                    item = await iterator.asend(sent)
                else:
                    item = await iterator.__anext__()
            except StopAsyncIteration:
                return
        thrown = sent = None
        try:
            sent = yield item
        except GeneratorExit:
            if is_generator:
                with enter():
                    await iterator.aclose()
            raise
        except BaseException as exc:
            if not is_generator:
                raise
            thrown = exc
