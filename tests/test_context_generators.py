"""``@voker_core.context(...)`` on generator and async generator functions.

The generator's own code runs inside the context - every step of it, including its ``finally``
blocks when it is closed - and the consumer never does: what the caller records while holding
an item belongs to the caller's context. Values sent in, exceptions thrown in and the return
value pass through unchanged.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from typing import Any

import pytest

from voker_core import context, current_context


def _session() -> str | None:
    return current_context().session


# --- sync generators --------------------------------------------------------------------------


def test_the_body_runs_inside_and_the_consumer_outside() -> None:
    @context(session="inner", agent="bot")
    def numbers() -> Iterator[tuple[int, str | None, str | None]]:
        for n in range(3):
            yield n, current_context().session, current_context().agent

    consumer_saw = []
    with context(session="outer"):
        for n, session, agent in numbers():
            assert (session, agent) == ("inner", "bot")
            consumer_saw.append((n, _session(), current_context().agent))
        assert _session() == "outer"
    assert consumer_saw == [(0, "outer", None), (1, "outer", None), (2, "outer", None)]
    assert _session() is None


def test_a_run_keeps_the_context_of_its_first_step_and_its_own_changes() -> None:
    """Like an asyncio task: a generator run works in a copy of the context where it started,
    so a ``with`` its body holds across a ``yield`` is still there at its next step."""

    @context(agent="bot")
    def steps() -> Iterator[tuple[str | None, str | None, str | None]]:
        yield _session(), current_context().agent, current_context().person
        with context(person="u-1"):
            while True:
                yield _session(), current_context().agent, current_context().person

    gen = steps()
    with context(session="first"):
        assert next(gen) == ("first", "bot", None)
    with context(session="second"):
        assert next(gen) == ("first", "bot", "u-1")
        assert next(gen) == ("first", "bot", "u-1")
        assert current_context().person is None  # nothing reached the consumer
    gen.close()


async def test_an_async_generator_keeps_a_context_it_holds_across_yields() -> None:
    @context(agent="bot")
    async def steps() -> AsyncIterator[tuple[str | None, str | None]]:
        async with context(session="conv-42"):
            for _ in range(3):
                await asyncio.sleep(0)
                yield _session(), current_context().agent

    with context(session="outer"):
        seen = [(step, _session()) async for step in steps()]
    assert seen == [(("conv-42", "bot"), "outer")] * 3


def test_send_passes_values_in() -> None:
    @context(session="inner")
    def echo() -> Generator[tuple[Any, str | None], Any, None]:
        received: Any = None
        while True:
            received = yield received, _session()

    gen = echo()
    with context(session="outer"):
        assert next(gen) == (None, "inner")
        assert gen.send("hello") == ("hello", "inner")
        assert _session() == "outer"
        assert gen.send(42) == (42, "inner")


def test_throw_runs_the_handler_inside_and_propagates_what_it_does_not_handle() -> None:
    @context(session="inner")
    def resilient() -> Generator[str, None, None]:
        while True:
            try:
                yield "item"
            except KeyError as exc:
                yield f"handled {exc.args[0]} in {_session()}"

    gen = resilient()
    with context(session="outer"):
        assert next(gen) == "item"
        assert gen.throw(KeyError("k")) == "handled k in inner"
        assert _session() == "outer"
        assert next(gen) == "item"
        with pytest.raises(ValueError, match="not handled"):
            gen.throw(ValueError("not handled"))
        assert _session() == "outer"


def test_close_runs_the_finally_block_inside_the_context() -> None:
    cleaned_up_in: list[str | None] = []

    @context(session="inner")
    def stream() -> Generator[int, None, None]:
        try:
            yield 1
            yield 2
        finally:
            cleaned_up_in.append(_session())

    gen = stream()
    with context(session="outer"):
        assert next(gen) == 1
        gen.close()
        assert _session() == "outer"
    assert cleaned_up_in == ["inner"]


def test_the_return_value_reaches_yield_from() -> None:
    @context(session="inner")
    def produce() -> Generator[int, None, str | None]:
        yield 1
        return _session()

    def consume() -> Generator[int, None, str | None]:
        result = yield from produce()
        return result

    gen = consume()
    assert next(gen) == 1
    with pytest.raises(StopIteration) as stop:
        next(gen)
    assert stop.value.value == "inner"


def test_a_lazy_value_is_resolved_once_per_run_not_per_step() -> None:
    calls: list[int] = []

    def load() -> str:
        calls.append(1)
        return f"lazy-{len(calls)}"

    @context(session=load, person=load)
    def steps() -> Iterator[tuple[str | None, str | None]]:
        for _ in range(3):
            yield _session(), current_context().resolve_person()

    assert list(steps()) == [("lazy-1", "lazy-2")] * 3  # one session and one person per run
    assert [s for s, _ in steps()] == ["lazy-3"] * 3  # a new run resolves afresh
    assert len(calls) == 4


def test_decorators_stack_on_a_generator_function() -> None:
    @context(agent="bot")
    @context(session="inner")
    def both() -> Iterator[tuple[str | None, str | None]]:
        yield _session(), current_context().agent

    assert inspect.isgeneratorfunction(both)
    with context(session="outer"):
        assert list(both()) == [("inner", "bot")]
        assert (_session(), current_context().agent) == ("outer", None)


# --- async generators -------------------------------------------------------------------------


async def test_an_async_generator_runs_inside_and_its_consumer_outside() -> None:
    @context(session="stream-1", agent="bot")
    async def stream() -> AsyncIterator[tuple[str | None, str | None]]:
        for _ in range(2):
            await asyncio.sleep(0)
            yield _session(), current_context().agent

    assert inspect.isasyncgenfunction(stream)
    consumer_saw = []
    async with context(session="outer"):
        async for item in stream():
            assert item == ("stream-1", "bot")
            consumer_saw.append(_session())
        assert _session() == "outer"
    assert consumer_saw == ["outer", "outer"]


async def test_async_generator_asend_athrow_and_aclose() -> None:
    cleaned_up_in: list[str | None] = []

    @context(session="inner")
    async def conversation() -> Any:
        try:
            received: Any = None
            while True:
                try:
                    received = yield received, _session()
                except KeyError as exc:
                    received = f"handled {exc.args[0]}"
        finally:
            await asyncio.sleep(0)
            cleaned_up_in.append(_session())

    gen = conversation()
    async with context(session="outer"):
        assert await gen.__anext__() == (None, "inner")
        assert await gen.asend("hi") == ("hi", "inner")
        assert _session() == "outer"
        assert await gen.athrow(KeyError("k")) == ("handled k", "inner")
        assert _session() == "outer"
        await gen.aclose()
        assert _session() == "outer"
    assert cleaned_up_in == ["inner"]


async def test_an_exception_the_async_generator_raises_reaches_the_consumer() -> None:
    @context(session="inner")
    async def failing() -> AsyncIterator[int]:
        yield 1
        raise RuntimeError(f"failed in {_session()}")

    got = []
    with pytest.raises(RuntimeError, match="failed in inner"):
        async for n in failing():
            got.append(n)
    assert got == [1]
    assert _session() is None


async def test_an_exception_thrown_in_and_not_handled_propagates() -> None:
    @context(session="inner")
    async def plain() -> AsyncGenerator[int, None]:
        yield 1
        yield 2

    gen = plain()
    assert await gen.__anext__() == 1
    with pytest.raises(ValueError, match="boom"):
        await gen.athrow(ValueError("boom"))
    with pytest.raises(StopAsyncIteration):
        await gen.__anext__()


async def test_async_generator_decorators_stack_and_runs_interleave() -> None:
    @context(agent="bot")
    @context(properties={"stream": True})
    async def stream(n: int) -> AsyncIterator[tuple[str | None, str | None, int]]:
        for _ in range(n):
            await asyncio.sleep(0.001)
            ctx = current_context()
            yield ctx.session, ctx.agent, len(ctx.properties)

    assert inspect.isasyncgenfunction(stream)

    async def consume(session: str) -> list[tuple[str | None, str | None, int]]:
        async with context(session=session):
            return [item async for item in stream(3)]

    a, b = await asyncio.gather(consume("A"), consume("B"))
    assert a == [("A", "bot", 1)] * 3
    assert b == [("B", "bot", 1)] * 3


async def test_an_async_generator_with_a_lazy_session_resolves_it_once_per_run() -> None:
    calls: list[int] = []

    async def load() -> str:
        calls.append(1)
        await asyncio.sleep(0)
        return f"session-{len(calls)}"

    @context(session=load)
    async def stream() -> AsyncIterator[str | None]:
        for _ in range(3):
            yield await current_context().aresolve_session()

    assert [s async for s in stream()] == ["session-1"] * 3
    assert calls == [1]
