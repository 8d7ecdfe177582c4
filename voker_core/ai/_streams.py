"""Recording streamed LLM calls: one event per stream, whichever way the stream ends.

Provider-neutral; the OpenAI wrapper uses it and the Anthropic and Gemini wrappers are meant to.
A wrapper subclasses :class:`StreamRecorder` with its provider's translation and attaches it to
the stream it is about to hand back to the caller::

    class MyRecorder(StreamRecorder):
        __slots__ = ("items",)

        def __init__(self, call: LLMCall) -> None:
            super().__init__(call)
            self.items: list[Any] = []

        def observe(self, item: Any) -> bool:          # runs for every item, keep it cheap
            if has_text(item):
                self.call.mark_first_token()
            self.items.append(item)
            return True                                # False hides the item from the caller

        def outcome(self) -> Outcome:            # what was seen so far
            return Outcome(output=..., model=..., usage=Usage.from_counts(...))

        def release(self) -> None:                     # optional: drop buffers once recorded
            self.items = []

    stream = provider_create(**call.provider_kwargs)   # the provider's own stream object
    return observe_stream(stream, MyRecorder(call))    # same object, same type for the caller

:func:`observe_stream` works on the Stainless-generated ``Stream``/``AsyncStream`` classes of
``openai`` and ``anthropic`` (an ``_iterator`` and an HTTP ``response``). For a plain iterator
(google-genai returns generators) use ``recorder.wrap(iterator)`` / ``recorder.awrap(aiterator)``
and hand the wrapper back instead.

The event is recorded exactly once, when the first of these happens:

* the stream is exhausted: success, with the assembled output;
* the provider raises mid-stream: ``error`` (and the partial output); the exception propagates
  to the caller unchanged;
* the caller breaks out of a ``for`` / ``async for`` loop over the stream: partial output (a
  caller who later resumes iterating gets every remaining item, but the event is already sent);
* the HTTP response is closed (``close()``, leaving a ``with`` block, or a helper that wraps the
  stream - ``ChatCompletionStream``, ``MessageStream``... - closing it): partial output;
* the stream object is garbage-collected unfinished: partial output.

``latency_ms`` runs to the last item seen, not to the close or collection. Everything here runs
under a guard: a failure is logged on the ``voker`` logger and never reaches the caller.

How an ``observe_stream`` stream is instrumented (the object and its class stay the provider's,
as far as ``isinstance`` and every public attribute are concerned):

* its ``_iterator`` is replaced by :meth:`StreamRecorder.wrap` around the original;
* its class is swapped for a cached subclass (same name) whose ``__iter__``/``__aiter__`` note a
  loop left early - the only way to see a ``break``, as Python looks special methods up on the
  type;
* its HTTP response's ``close``/``aclose`` are shadowed on the instance to see closes;
* a :func:`weakref.finalize` on the stream sees abandonment. Nothing here refers back to the
  stream, so recording never keeps a stream alive.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

from voker_core.ai._recorder import LLMCall, Outcome

__all__ = ["StreamRecorder", "observe_close", "observe_stream"]

logger = logging.getLogger("voker")

T = TypeVar("T")
S = TypeVar("S")


class StreamRecorder:
    """Watches one stream on behalf of an :class:`LLMCall`; finishes the call exactly once.

    Subclasses override :meth:`observe` and :meth:`outcome`. Both run under a guard.
    """

    __slots__ = ("_busy", "_last_item_at", "call")

    def __init__(self, call: LLMCall) -> None:
        self.call = call
        # True while the wrapped iterator is producing the next item: a close of the HTTP
        # response seen then is the iterator's own (end of data or an error it is raising), and
        # the iterator's outcome, not the close, decides how the call ends.
        self._busy = False
        self._last_item_at: float | None = None

    # -- provider translation (override) -----------------------------------------------------

    def observe(self, item: Any) -> bool:
        """Note one item; return ``False`` to hide it from the caller."""
        return True

    def outcome(self) -> Outcome:
        """The output, model, usage and finish reason of what has been observed so far."""
        return Outcome()

    def release(self) -> None:
        """Drop buffers once the call is recorded (the stream object may live on)."""

    # -- ending --------------------------------------------------------------------------------

    def _outcome(self) -> Outcome:
        try:
            return self.outcome()
        except Exception:
            logger.warning("voker: failed to assemble a streamed response (ignored)", exc_info=True)
            return Outcome()

    def finish(self) -> None:
        """Record the call as succeeded with what was observed (no-op once recorded)."""
        if self.call.done:
            return
        out = self._outcome()
        self.call.succeed(
            output=out.output,
            model=out.model,
            usage=out.usage,
            finish_reason=out.finish_reason,
            ended=self._last_item_at,
        )
        self._release()

    def fail(self, exc: BaseException) -> None:
        """Record the call as failed with ``exc`` (no-op once recorded)."""
        if self.call.done:
            return
        out = self._outcome()
        self.call.fail(exc, output=out.output, model=out.model, usage=out.usage)
        self._release()

    def _release(self) -> None:
        try:
            self.release()
        except Exception:
            logger.warning("voker: failed to release a stream's buffers (ignored)", exc_info=True)

    def closed(self) -> None:
        """The HTTP response was closed: the stream is over unless the iterator is mid-item."""
        if not self._busy:
            self.finish()

    # -- iteration -----------------------------------------------------------------------------

    def _item(self, item: Any) -> bool:
        if self.call.done:
            return True  # resumed after a break/close: pass everything through untouched
        try:
            show = self.observe(item) is not False
        except Exception:
            logger.warning("voker: failed to observe a streamed item (ignored)", exc_info=True)
            show = True
        # After observe(), so that a first token marked there is never later than this.
        self._last_item_at = time.perf_counter()
        return show

    def wrap(self, iterator: Iterator[T]) -> Iterator[T]:
        """Yield ``iterator``'s items (minus hidden ones), recording how the iteration ends."""
        self._busy = True
        try:
            for item in iterator:
                self._busy = False
                if self._item(item):
                    yield item
                self._busy = True
        except GeneratorExit:
            self._busy = False
            self.finish()
            raise
        except BaseException as exc:
            self._busy = False
            self.fail(exc)
            raise
        self._busy = False
        self.finish()

    async def awrap(self, iterator: AsyncIterator[T]) -> AsyncIterator[T]:
        """The async twin of :meth:`wrap`."""
        self._busy = True
        try:
            async for item in iterator:
                self._busy = False
                if self._item(item):
                    yield item
                self._busy = True
        except GeneratorExit:
            self._busy = False
            self.finish()
            raise
        except BaseException as exc:
            self._busy = False
            self.fail(exc)
            raise
        self._busy = False
        self.finish()


# -- attaching to Stainless-style stream objects --------------------------------------------------

_RECORDER_ATTR = "_voker_recorder"
_observed_classes: dict[type, type] = {}
_classes_lock = threading.Lock()


def _stop(stream: Any) -> None:
    recorder = stream.__dict__.get(_RECORDER_ATTR)
    if recorder is not None:
        try:
            recorder.closed()
        except Exception:
            logger.warning("voker: failed to record a stream (ignored)", exc_info=True)


def _observed_class(base: type) -> type:
    """A subclass of ``base`` whose loops report being left early; one per base class."""
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
    base_aiter = getattr(base, "__aiter__", None)
    if base_aiter is not None:

        async def __aiter__(self: Any) -> AsyncIterator[Any]:
            inner = base_aiter(self)
            try:
                async for item in inner:
                    yield item
            finally:
                _stop(self)
                aclose = getattr(inner, "aclose", None)
                if aclose is not None:
                    await aclose()

        namespace["__aiter__"] = __aiter__
    else:
        base_iter = base.__iter__  # type: ignore[attr-defined]

        def __iter__(self: Any) -> Iterator[Any]:
            try:
                yield from base_iter(self)
            finally:
                _stop(self)

        namespace["__iter__"] = __iter__
    with _classes_lock:
        cls = _observed_classes.get(base)
        if cls is None:
            cls = type(base.__name__, (base,), namespace)
            _observed_classes[base] = cls
    return cls


class _CloseHook:
    """Shadows ``response.close``/``aclose`` on the instance: tells the recorder, then closes.

    Holds the response weakly so that the hook stored on it forms no reference cycle.
    """

    __slots__ = ("_method", "_recorder", "_response")

    def __init__(self, response: Any, method: Callable[..., Any], recorder: StreamRecorder) -> None:
        self._response = weakref.ref(response)
        self._method = method
        self._recorder = recorder

    def __call__(self) -> Any:
        try:
            self._recorder.closed()
        except Exception:
            logger.warning("voker: failed to record a stream (ignored)", exc_info=True)
        response = self._response()
        if response is None:  # pragma: no cover - the caller holds the response it closes
            return None
        return self._method(response)


def _hook_close(response: Any, recorder: StreamRecorder) -> None:
    cls = type(response)
    for name in ("close", "aclose"):
        method = getattr(cls, name, None)
        if callable(method):
            setattr(response, name, _CloseHook(response, method, recorder))


def observe_stream(stream: S, recorder: StreamRecorder) -> S:
    """Make a provider ``Stream``/``AsyncStream`` report to ``recorder``; returns ``stream``.

    Works on objects with an ``_iterator`` (sync or async) and, optionally, an HTTP ``response``
    (``openai`` and ``anthropic`` streams). On any failure to instrument, the stream is returned
    untouched and the call is recorded when the stream object is collected.
    """
    target: Any = stream
    try:
        weakref.finalize(target, recorder.finish)
        inner = target._iterator
        is_async = hasattr(type(target), "__aiter__")
        target._iterator = recorder.awrap(inner) if is_async else recorder.wrap(inner)
        target.__dict__[_RECORDER_ATTR] = recorder
        target.__class__ = _observed_class(type(target))
        response = getattr(target, "response", None)
        if response is not None:
            _hook_close(response, recorder)
    except Exception:
        logger.warning("voker: failed to observe a stream (ignored)", exc_info=True)
    return stream


def observe_close(response: Any, recorder: StreamRecorder) -> None:
    """Finish ``recorder`` when ``response`` is closed (its ``close``/``aclose``, sync or async)
    or garbage-collected.

    For responses the caller reads itself (raw-response APIs), where no item passes through us.
    """
    try:
        weakref.finalize(response, recorder.finish)
        _hook_close(response, recorder)
    except Exception:
        logger.warning("voker: failed to observe a response (ignored)", exc_info=True)
