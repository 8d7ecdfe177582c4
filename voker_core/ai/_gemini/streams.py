"""The iterators handed back for Gemini streams (``generate_content_stream``, a chat's
``send_message_stream``, sync and under ``client.aio``).

google-genai returns a plain generator of chunks. Handing back one generator of ours around it
would lose a ``break``: a loop closes its iterator only when nothing else refers to it, and a
caller who keeps the stream in a variable (``stream = ...; for chunk in stream: break``) does.
So the caller gets a small iterator object instead, as Stainless streams are: each loop over it
(``__iter__``/``__aiter__``) runs through a fresh :meth:`StreamRecorder.wrap` generator that only
the loop holds, so leaving the loop records the call; ``next()``, ``close()`` and being dropped
record too (see :mod:`voker_core.ai._streams`). The SDK's generator stays inside, unchanged.

The recorder is lazy: google-genai 3.x sends the request on the first read (the ``await`` of an
``aio`` stream sends nothing either), so the call's clock starts then, and a stream never read
sends nothing and records nothing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from voker_core.ai._gemini.translate import ChunkStreamRecorder

if TYPE_CHECKING:
    from voker_core.ai._recorder import LLMCall

__all__ = ["AsyncChunkStream", "ChunkStream"]

logger = logging.getLogger("voker")

T = TypeVar("T")


class _Recorded:
    """What the sync and async streams share: the SDK's generator, its recorder, and the
    recording of a close or an abandonment."""

    __slots__ = ("__weakref__", "_chunks", "_recorder")

    def __init__(self, chunks: Any, call: LLMCall) -> None:
        self._chunks = chunks  # the SDK's generator; it sends its request on its first step
        self._recorder = ChunkStreamRecorder(call, lazy=True)

    def _closing(self) -> None:
        """Closed or dropped: record what was read (nothing if the request was never sent)."""
        try:
            self._recorder.closed()
        except Exception:
            logger.warning("voker: failed to record a stream (ignored)", exc_info=True)

    def __del__(self) -> None:
        self._closing()


class ChunkStream(_Recorded, Iterator[T]):
    """A recorded google-genai stream: iterate it (or call ``next``) as the SDK's generator."""

    __slots__ = ()

    def __init__(self, chunks: Iterator[T], call: LLMCall) -> None:
        super().__init__(chunks, call)

    def __iter__(self) -> Iterator[T]:
        # A generator per loop, held by the loop alone: a ``break`` closes it, and records.
        return self._recorder.wrap(self._chunks, self)

    def __next__(self) -> T:
        return self._recorder.next_of(self._chunks.__next__)  # type: ignore[no-any-return]

    def close(self) -> None:
        """Record the call (if its request was made) and close the SDK's generator."""
        self._closing()
        self._chunks.close()


class AsyncChunkStream(_Recorded, AsyncIterator[T]):
    """The async twin of :class:`ChunkStream`."""

    __slots__ = ()

    def __init__(self, chunks: AsyncIterator[T], call: LLMCall) -> None:
        super().__init__(chunks, call)

    def __aiter__(self) -> AsyncIterator[T]:
        # Dropped when an ``async for`` is left: the event loop's async-generator hook closes it.
        return self._recorder.awrap(self._chunks, self)

    async def __anext__(self) -> T:
        return await self._recorder.anext_of(self._chunks.__anext__)

    async def aclose(self) -> None:
        """Record the call (if its request was made) and close the SDK's async generator."""
        self._closing()
        await self._chunks.aclose()
