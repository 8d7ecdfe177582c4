"""Recording streamed LLM calls: one event per stream, whichever way the stream ends.

Provider-neutral; the OpenAI, Anthropic and Gemini wrappers use it. A wrapper subclasses
:class:`StreamRecorder` with its provider's translation and attaches it to the stream it is
about to hand back to the caller::

    class MyRecorder(StreamRecorder):
        def has_content(self, item: Any) -> bool:     # delivery thread: the first token
            return has_text(item)

        def outcome(self) -> Outcome:                  # delivery thread: reads self.items
            return Outcome(output=..., model=..., usage=Usage.from_counts(...))

    stream = provider_create(**call.provider_kwargs)   # the provider's own stream object
    return observe_stream(stream, MyRecorder(call))    # same object, same type for the caller

:func:`observe_stream` works on the Stainless-generated ``Stream``/``AsyncStream`` classes of
``openai`` and ``anthropic`` (an ``_iterator`` and an HTTP ``response``). For a plain iterator
(google-genai returns generators) hand back an object of your own whose ``__iter__`` returns
``recorder.wrap(iterator)`` (a fresh generator per loop, so that a ``break`` closes it) and whose
``__next__`` is ``recorder.next_of(iterator.__next__)`` (``awrap``/``anext_of`` for async). A
recorder made with ``lazy=True`` is for an iterator that sends its request on its first step:
the call's clock starts then, and an iterator never stepped records nothing.

The event is recorded exactly once, when the first of these happens:

* the stream is exhausted: success, with the assembled output;
* the provider raises mid-stream: ``error`` (and the partial output); the exception propagates
  to the caller unchanged;
* the caller breaks out of a ``for`` / ``async for`` loop over the stream: partial output (a
  caller who later resumes iterating gets every remaining item, but the event is already sent);
* the HTTP response is closed (``close()``, leaving a ``with`` block, or a helper that wraps the
  stream - ``ChatCompletionStream``, ``MessageStream``... - closing it): partial output;
* the stream object is garbage-collected unfinished: partial output;
* the interpreter exits with the stream unfinished: partial output. An ``atexit`` hook records
  every stream whose request was made and whose call is not recorded yet; it is registered after
  the delivery engine's (which flushes and closes every client) and ``atexit`` runs hooks last
  registered first, so these events are queued before the clients flush.

``latency_ms`` runs to the last item seen, not to the close or collection. On the caller's
thread a stream costs two list appends and a clock read per item (the item and its arrival
time); everything else - :meth:`StreamRecorder.outcome`, and finding the first token among the
items with :meth:`StreamRecorder.has_content` - runs on the delivery thread, after the call is
recorded. A recorder that must keep some items from the caller (:meth:`StreamRecorder.hides`)
turns that on per stream, and pays a call per item while it is on. Every step runs under a
guard: a failure is logged on the ``voker`` logger and never reaches the caller.

How an ``observe_stream`` stream is instrumented (the object and its class stay the provider's,
as far as ``isinstance`` and every public attribute are concerned): its class is swapped for a
cached subclass (same name) whose

* ``__iter__``/``__aiter__`` run the base class's own ``__iter__``/``__aiter__`` through
  :meth:`StreamRecorder.wrap`/:meth:`~StreamRecorder.awrap` - one generator, which also sees a
  ``break`` (Python closes a loop's iterator when the loop is left);
* ``__next__``/``__anext__`` observe the base class's ``__next__``/``__anext__``;
* ``__del__`` sees abandonment;

and its HTTP response's ``close``/``aclose`` are shadowed on the instance to see closes. Nothing
here refers back to the stream, so recording never keeps a stream alive.

A raw response whose body the caller reads itself, by any means, is watched at the HTTP level
instead: :func:`observe_body` and a :class:`BodyRecorder` subclass, whose items are the body's
chunks as the caller's reads pull them.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import MethodType
from typing import Any, TypeVar

from voker_core.ai._recorder import LLMCall, Outcome

__all__ = ["BodyRecorder", "StreamRecorder", "observe_body", "observe_close", "observe_stream"]

logger = logging.getLogger("voker")

T = TypeVar("T")
S = TypeVar("S")


class StreamRecorder:
    """Watches one stream on behalf of an :class:`LLMCall`; finishes the call exactly once.

    The caller's thread only keeps each item and the time it arrived (two list appends, no
    call of ours per item); subclasses read them later, on the delivery thread, in
    :meth:`outcome` (what the stream produced) and :meth:`has_content` (which item was the
    first token).
    """

    __slots__ = ("__weakref__", "_busy", "_hiding", "_lazy", "_times", "call", "items")

    def __init__(self, call: LLMCall, *, lazy: bool = False) -> None:
        """``lazy``: the stream sends its request on its first step (google-genai's generators),
        so the call's clock starts then; until then nothing is sent, and nothing is recorded
        (not even at exit). Otherwise the request has been made already."""
        self.call = call
        # True while the provider's iterator is producing the next item: a close of the HTTP
        # response seen then is the iterator's own (end of data or an error it is raising), and
        # the iterator's outcome, not the close, decides how the call ends.
        self._busy = False
        # While True, every item is first offered to hides() (see there).
        self._hiding = False
        self.items: list[Any] = []  # the items the caller got, in order
        self._times: list[float] = []  # when each arrived (time.perf_counter)
        self._lazy = lazy  # True until a lazy stream's first step
        if not lazy:
            _track(self)

    # -- provider translation (override) -----------------------------------------------------

    def outcome(self) -> Outcome:
        """The output, model, usage and finish reason of :attr:`items` (delivery thread)."""
        return Outcome()

    def has_content(self, item: Any) -> bool:
        """Whether ``item`` carries output (the first such one is the first token; delivery
        thread)."""
        return True

    def hides(self, item: Any) -> bool:
        """Whether to keep ``item`` from the caller (and from :attr:`items`); consulted, on the
        caller's thread, only while ``self._hiding`` is set."""
        return False

    def release(self) -> None:
        """Drop buffers once the event is built (the stream object may live on)."""
        self.items = []
        self._times = []

    def first_token_at(self) -> float | None:
        """When the first item with content arrived (delivery thread)."""
        has_content = self.has_content
        # Not strict: a stream still being read may have kept an item and not yet its time.
        for item, at in zip(tuple(self.items), tuple(self._times), strict=False):
            if has_content(item):
                return at
        return None

    # -- ending --------------------------------------------------------------------------------

    def finish(self) -> None:
        """Record the call as succeeded with what was observed (no-op once recorded).

        ``latency_ms`` runs to the last item's arrival (a stream may be closed, or collected,
        much later)."""
        if not self.call.done:
            times = self._times
            self.call.end(self, _recorded_outcome, ended=times[-1] if times else None)

    def fail(self, exc: BaseException) -> None:
        """Record the call as failed with ``exc`` (no-op once recorded)."""
        if not self.call.done:
            self.call.end(self, _recorded_outcome, error=exc)

    def closed(self) -> None:
        """The stream was closed (or dropped): it is over unless the iterator is mid-item. A lazy
        stream never stepped made no request: nothing is recorded, then or later (a step after
        the close sends nothing either)."""
        if self._lazy:
            self._lazy = False
            self.call.discard()
        elif not self._busy:
            self.finish()

    # -- iteration -----------------------------------------------------------------------------

    def _sending(self) -> None:
        """A lazy stream's first step: its request is made now (see ``lazy``)."""
        self._lazy = False
        try:
            if not self.call.done:
                self.call.request_started()
                _track(self)
        except Exception:
            logger.warning("voker: failed to observe a stream's start (ignored)", exc_info=True)

    def observe(self, item: Any) -> bool:
        """Note one item as iteration does; whether the caller gets it."""
        self._busy = False
        if self._hiding and self._hidden(item):
            return False
        self.items.append(item)
        self._times.append(time.perf_counter())
        return True

    def _hidden(self, item: Any) -> bool:
        """:meth:`hides`, guarded (a failure shows the item)."""
        try:
            return self.hides(item)
        except Exception:
            logger.warning("voker: failed to observe a streamed item (ignored)", exc_info=True)
            return False

    def _ended(self, exc: BaseException | None = None) -> None:
        """The iteration ended: exhausted or left early (``exc`` None or the iterator's
        ``StopIteration``/``StopAsyncIteration``), or raising ``exc``."""
        self._busy = False
        if exc is None or isinstance(exc, (StopIteration, StopAsyncIteration)):
            self.finish()
        else:
            self.fail(exc)

    # wrap() and awrap() run for every streamed item: the step of observe() is written out in
    # their loops (appends to the lists bound once, the clock read), so that an item costs no
    # call of ours unless hiding is on.

    def wrap(self, iterator: Iterator[T], owner: object = None) -> Iterator[T]:
        """Yield ``iterator``'s items (minus hidden ones), recording how the iteration ends.

        ``owner`` (the stream object being iterated, if any) is kept alive while iterating.
        """
        if self._lazy:
            self._sending()
        if self.call.done:  # a loop resumed after a break or a close: nothing left to record
            yield from iterator
            return
        keep, stamp, clock = self.items.append, self._times.append, time.perf_counter
        self._busy = True
        try:
            for item in iterator:
                self._busy = False
                if self._hiding and self._hidden(item):
                    self._busy = True
                    continue
                keep(item)
                stamp(clock())
                yield item
                self._busy = True
        except GeneratorExit:  # the caller's loop was left early
            self._ended()
            raise
        except BaseException as exc:
            self._ended(exc)
            raise
        self._ended()

    async def awrap(self, iterator: AsyncIterator[T], owner: object = None) -> AsyncIterator[T]:
        """The async twin of :meth:`wrap`."""
        if self._lazy:
            self._sending()
        if self.call.done:
            async for item in iterator:
                yield item
            return
        keep, stamp, clock = self.items.append, self._times.append, time.perf_counter
        self._busy = True
        try:
            async for item in iterator:
                self._busy = False
                if self._hiding and self._hidden(item):
                    self._busy = True
                    continue
                keep(item)
                stamp(clock())
                yield item
                self._busy = True
        except GeneratorExit:
            self._ended()
            raise
        except BaseException as exc:
            self._ended(exc)
            raise
        self._ended()

    def next_of(self, step: Callable[[], T]) -> T:
        """``step()`` (an iterator's ``__next__``), skipping hidden items, recording the end of
        the iteration."""
        if self._lazy:
            self._sending()
        while True:
            if self.call.done:
                return step()
            self._busy = True
            try:
                item = step()
            except BaseException as exc:  # StopIteration included: the end
                self._ended(exc)
                raise
            if self.observe(item):
                return item

    async def anext_of(self, step: Callable[[], Awaitable[T]]) -> T:
        """The async twin of :meth:`next_of` (``step``: an async iterator's ``__anext__``)."""
        if self._lazy:
            self._sending()
        while True:
            if self.call.done:
                return await step()
            self._busy = True
            try:
                item = await step()
            except BaseException as exc:  # StopAsyncIteration included: the end
                self._ended(exc)
                raise
            if self.observe(item):
                return item


def _recorded_outcome(recorder: StreamRecorder) -> Outcome:
    """A finished recorder's outcome (on the delivery thread), then its buffers are let go."""
    try:
        outcome = recorder.outcome()
        try:
            first = recorder.first_token_at()
        except Exception:  # the event keeps its output, without time_to_first_token_ms
            logger.warning("voker: failed to find a stream's first token (ignored)", exc_info=True)
            first = None
        return outcome._replace(first_token_at=first)
    finally:
        try:
            recorder.release()
        except Exception:
            logger.warning("voker: failed to release a stream's buffers (ignored)", exc_info=True)


# -- interpreter exit ----------------------------------------------------------------------------

# Recorders whose request has been made (weakly: a stream's recorder lives as long as the stream).
_unfinished: weakref.WeakSet[StreamRecorder] = weakref.WeakSet()
_exit_hooked = False
_exit_lock = threading.Lock()


def _track(recorder: StreamRecorder) -> None:
    """Have ``recorder`` recorded at interpreter exit if nothing records it before (once per
    stream, when its request is made)."""
    if not _exit_hooked:
        _hook_exit()
    _unfinished.add(recorder)


def _hook_exit() -> None:
    global _exit_hooked
    with _exit_lock:
        if _exit_hooked:
            return
        # The delivery engine's hook (flush and close every client) must run after ours:
        # ``atexit`` runs the last registered first, and importing the engine registers its own.
        import voker_core._delivery  # noqa: F401

        atexit.register(_record_unfinished)
        _exit_hooked = True


def _forget_unfinished() -> None:
    """In a forked child: the parent's streams are the parent's to record (the child's copies
    would record every call a second time at the child's exit)."""
    _unfinished.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_unfinished)


def _record_unfinished() -> None:
    """``atexit``: record every stream still unfinished (a script that broke out of a loop over
    a stream it still holds, or stopped reading one), before the clients flush."""
    try:
        recorders = list(_unfinished)
    except Exception:  # pragma: no cover - never break interpreter exit
        logger.debug("voker: could not list unfinished streams at exit", exc_info=True)
        return
    for recorder in recorders:
        if not recorder.call.done:
            _abandoned(recorder)


# -- attaching to Stainless-style stream objects --------------------------------------------------

_RECORDER_ATTR = "_voker_recorder"
_observed_classes: dict[type, type] = {}
_classes_lock = threading.Lock()


def _recorder_of(stream: Any) -> StreamRecorder | None:
    return stream.__dict__.get(_RECORDER_ATTR)  # type: ignore[no-any-return]


def _abandoned(recorder: StreamRecorder) -> None:
    try:
        recorder.finish()
    except Exception:
        logger.warning("voker: failed to record a stream (ignored)", exc_info=True)


def _observed_class(base: type) -> type:
    """A subclass of ``base`` whose iteration and collection report to the stream's recorder;
    one per base class.

    Its iteration runs the base class's own ``__iter__``/``__next__`` (and async twins), so that
    what the SDK does per item still happens (anthropic's tracing observes every item there),
    through one generator of ours. (The base methods must not call the instance's ``__next__``
    themselves, or items would be seen twice; the Stainless ones read ``self._iterator``.)
    """
    if base.__dict__.get("_voker_observed"):
        return base  # already ours (a stream observed twice keeps one subclass level)
    cls = _observed_classes.get(base)
    if cls is not None:
        return cls
    namespace: dict[str, Any] = {
        "_voker_observed": True,
        "__module__": base.__module__,
        "__qualname__": base.__qualname__,
        "__doc__": base.__doc__,
    }
    if getattr(base, "__aiter__", None) is not None:
        base_aiter, base_anext = base.__aiter__, base.__anext__  # type: ignore[attr-defined]

        def __aiter__(self: Any) -> AsyncIterator[Any]:
            recorder = _recorder_of(self)
            if recorder is None:
                return base_aiter(self)  # type: ignore[no-any-return]
            return recorder.awrap(base_aiter(self), self)

        async def __anext__(self: Any) -> Any:
            recorder = _recorder_of(self)
            if recorder is None:
                return await base_anext(self)
            return await recorder.anext_of(MethodType(base_anext, self))

        namespace["__aiter__"] = __aiter__
        namespace["__anext__"] = __anext__
    else:
        base_iter, base_next = base.__iter__, base.__next__  # type: ignore[attr-defined]

        def __iter__(self: Any) -> Iterator[Any]:
            recorder = _recorder_of(self)
            if recorder is None:
                return base_iter(self)  # type: ignore[no-any-return]
            return recorder.wrap(base_iter(self), self)

        def __next__(self: Any) -> Any:
            recorder = _recorder_of(self)
            if recorder is None:
                return base_next(self)
            return recorder.next_of(MethodType(base_next, self))

        namespace["__iter__"] = __iter__
        namespace["__next__"] = __next__
    base_del = getattr(base, "__del__", None)

    def __del__(self: Any) -> None:
        recorder = _recorder_of(self)
        if recorder is not None and not recorder.call.done:
            _abandoned(recorder)
        if base_del is not None:
            base_del(self)

    namespace["__del__"] = __del__
    with _classes_lock:
        cls = _observed_classes.get(base)
        if cls is None:
            cls = type(base.__name__, (base,), namespace)
            _observed_classes[base] = cls
    return cls


class _CloseHook:
    """Shadows ``response.close``/``aclose`` on the instance: tells the recorder, then closes.

    Holds the response strongly: a weak reference would be cleared first when a dropped stream
    is collected together with its response, and the SDK's own ``finally: await
    response.aclose()`` would then get no awaitable (asyncio logs a ``TypeError``) and never
    close the response. The cycle this makes (response -> hook -> response) is undone at the
    first close, so only a stream abandoned unclosed leaves it to the garbage collector.
    """

    __slots__ = ("_method", "_name", "_recorder", "_response")

    def __init__(
        self, response: Any, name: str, method: Callable[..., Any], recorder: StreamRecorder
    ) -> None:
        self._response = response
        self._name = name
        self._method = method
        self._recorder = recorder

    def __call__(self) -> Any:
        try:
            self._recorder.closed()
        except Exception:
            logger.warning("voker: failed to record a stream (ignored)", exc_info=True)
        response = self._response
        try:
            if vars(response).get(self._name) is self:
                delattr(response, self._name)  # later closes go straight to the class's method
        except Exception:
            logger.debug("voker: could not unhook a closed response", exc_info=True)
        return self._method(response)


def _hook_close(response: Any, recorder: StreamRecorder, names: tuple[str, ...]) -> None:
    cls = type(response)
    for name in names:
        method = getattr(cls, name, None)
        if callable(method):
            setattr(response, name, _CloseHook(response, name, method, recorder))


def observe_stream(stream: S, recorder: StreamRecorder) -> S:
    """Make a provider ``Stream``/``AsyncStream`` report to ``recorder``; returns ``stream``.

    Works on objects with an ``_iterator`` (sync or async) and, optionally, an HTTP ``response``
    (``openai`` and ``anthropic`` streams). On any failure to instrument, the stream is returned
    untouched and the call is recorded when the stream object is collected.
    """
    target: Any = stream
    try:
        target.__dict__[_RECORDER_ATTR] = recorder
        target.__class__ = _observed_class(type(target))
    except Exception:
        logger.warning("voker: failed to observe a stream (ignored)", exc_info=True)
        try:
            weakref.finalize(target, recorder.finish)
        except Exception:
            logger.warning("voker: failed to watch a stream's end (ignored)", exc_info=True)
        return stream
    try:
        response = getattr(target, "response", None)
        if response is not None:
            # A sync stream closes its response with close(), an async one with aclose().
            is_async = hasattr(type(target), "__aiter__")
            _hook_close(response, recorder, ("aclose",) if is_async else ("close",))
    except Exception:
        logger.warning("voker: failed to watch a stream's close (ignored)", exc_info=True)
    return stream


def observe_close(response: Any, recorder: StreamRecorder) -> None:
    """Finish ``recorder`` when ``response`` is closed (its ``close``/``aclose``, sync or async)
    or garbage-collected.

    For responses the caller reads itself (raw-response APIs), where no item passes through us.
    """
    try:
        weakref.finalize(response, recorder.finish)
        _hook_close(response, recorder, ("close", "aclose"))
    except Exception:
        logger.warning("voker: failed to observe a response (ignored)", exc_info=True)


# -- responses whose body the caller reads itself -------------------------------------------------


class BodyRecorder(StreamRecorder):
    """Watches an HTTP response whose body the caller reads itself, not read yet (Stainless
    SDKs' ``with_streaming_response``, a ``with_raw_response`` of a stream): attach it with
    :func:`observe_body`.

    Its items are the body's raw chunks, kept as they reach the caller, and their arrival
    times. Every way of reading a body (the SDK's ``parse()`` and its ``Stream``, ``read()``,
    ``iter_bytes``/``iter_lines``, ``iter_raw``...) pulls it, once, through the HTTP response's
    ``iter_raw``/``aiter_raw``, which :func:`observe_body` taps. So the wrapper never reads the
    body for the caller, and records whatever the caller read, however it read it. A subclass
    turns :meth:`chunks`/:meth:`body` into its outcome, on the delivery thread.

    The call ends when the body has been read to its end (``latency_ms``: to its last chunk),
    or with what was read when the response is closed or collected first; a body never read
    ends, timing only, when the response's headers came (not when the caller's ``with`` block
    closes it: that time is the caller's).
    """

    __slots__ = ("_answered", "_decode")

    def __init__(self, call: LLMCall, http_response: Any) -> None:
        super().__init__(call)
        self._answered = time.perf_counter()  # the response (its headers) is in
        self._decode: Callable[[bytes], bytes] | None = None
        encoding = http_response.headers.get("content-encoding", "")
        if encoding and encoding.lower() != "identity":
            # The raw chunks are compressed; a response of the same class decodes them (its
            # decoders are the HTTP library's own), later, on the delivery thread.
            self._decode = functools.partial(_decoded, type(http_response), encoding)

    def finish(self) -> None:
        if not self.call.done:
            times = self._times
            self.call.end(self, _recorded_outcome, ended=times[-1] if times else self._answered)

    def chunks(self) -> list[tuple[bytes, float]]:
        """The body read so far, decoded, as ``(bytes, arrival)`` pieces (delivery thread). A
        compressed body is decoded as a whole: one piece, at its last chunk's arrival."""
        raw, times = tuple(self.items), tuple(self._times)
        # Not strict: a body still being read may have kept a chunk and not yet its time.
        pieces = list(zip(raw, times, strict=False))
        if self._decode is None or not pieces:
            return pieces
        return [(self._decode(b"".join(raw[: len(pieces)])), pieces[-1][1])]

    def body(self) -> bytes:
        """The body read so far, decoded (delivery thread)."""
        return b"".join(piece for piece, _ in self.chunks())

    def server_sent_events(self, decoder: Any) -> Iterator[tuple[Any, float]]:
        """The body read so far as ``decoder`` (an SDK's own SSE decoder, with its
        ``iter_bytes``) parses it, each event with the arrival of the piece that completed it
        (delivery thread). A body cut mid-event ends at the last whole one."""
        arrival = 0.0

        def pieces() -> Iterator[bytes]:
            nonlocal arrival
            for piece, at in self.chunks():
                arrival = at  # the decoder yields an event once the piece completing it is read
                yield piece

        for event in decoder.iter_bytes(pieces()):
            yield event, arrival


def _decoded(response_type: Callable[..., Any], encoding: str, raw: bytes) -> bytes:
    return response_type(200, headers={"content-encoding": encoding}, content=raw).content  # type: ignore[no-any-return]


class _BodyTap:
    """Shadows an HTTP response's ``iter_raw``/``aiter_raw`` on the instance: its raw chunks
    pass through a :class:`BodyRecorder` on their way to whichever reader pulls them.

    Holds the response weakly: the tap lives on it, and a dropped response must be collected
    (its recorder then finishes).
    """

    __slots__ = ("_is_async", "_method", "_recorder", "_response")

    def __init__(
        self,
        response: Any,
        method: Callable[..., Any],
        recorder: BodyRecorder,
        *,
        is_async: bool,
    ) -> None:
        self._response = weakref.ref(response)
        self._method = method
        self._recorder = recorder
        self._is_async = is_async

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        response = self._response()
        if response is None:
            raise ReferenceError("the HTTP response has been garbage-collected")
        try:
            # Nothing left to record, or nothing left to read (the library raises its own error).
            untapped = self._recorder.call.done or response.is_stream_consumed or response.is_closed
        except Exception:
            logger.warning("voker: failed to observe a response's body (ignored)", exc_info=True)
            untapped = True
        chunks = self._method(response, *args, **kwargs)
        if untapped:
            return chunks
        return self._recorder.awrap(chunks) if self._is_async else self._recorder.wrap(chunks)


def observe_body(http_response: Any, recorder: BodyRecorder, *, is_async: bool) -> None:
    """Have ``recorder`` see the body of ``http_response`` (an ``httpx`` response whose body
    has not been read) as the caller reads it, and finish when it has been read, or the
    response is closed or garbage-collected (see :class:`BodyRecorder`)."""
    try:
        name = "aiter_raw" if is_async else "iter_raw"
        method = getattr(type(http_response), name)
        setattr(http_response, name, _BodyTap(http_response, method, recorder, is_async=is_async))
    except Exception:
        logger.warning("voker: failed to observe a response's body (ignored)", exc_info=True)
    observe_close(http_response, recorder)
