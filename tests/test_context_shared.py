"""One ``context(...)`` object entered by several threads or asyncio tasks at once.

A module-level ``BOT = voker_core.context(agent="support-bot")`` is a natural thing to write and
to enter from every request; each ``with`` must leave exactly its own entry, whichever order the
threads and tasks leave in.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import threading
import weakref
from collections.abc import Iterator

import pytest

from voker_core import context, current_context


async def test_tasks_sharing_one_object_each_leave_their_own_entry() -> None:
    bot = context(agent="support-bot")

    async def conversation(name: str, enter_delay: float, work: float) -> tuple[str | None, ...]:
        with context(session=name):
            await asyncio.sleep(enter_delay)
            async with bot as inside:
                await asyncio.sleep(work)  # the other task enters, then leaves first (A) or last
                seen_inside = (inside.session, current_context().session, current_context().agent)
            after = current_context()
            return (*seen_inside, after.session, after.agent)

    results = list(
        await asyncio.gather(conversation("conv-A", 0.00, 0.05), conversation("conv-B", 0.01, 0.10))
    )
    assert results == [
        ("conv-A", "conv-A", "support-bot", "conv-A", None),
        ("conv-B", "conv-B", "support-bot", "conv-B", None),
    ]
    assert current_context().session is None


async def test_many_tasks_leaving_in_reverse_order_of_entry() -> None:
    bot = context(agent="bot", properties={"shared": True})
    inside = asyncio.Event()
    entered = 0
    n = 10

    async def task(i: int) -> tuple[str | None, str | None]:
        nonlocal entered
        async with context(session=f"s{i}"):
            with bot:
                entered += 1
                if entered == n:
                    inside.set()
                await inside.wait()  # all n are inside the shared object at once
                await asyncio.sleep(0.002 * (n - i))  # the last to enter leaves first
                assert current_context().session == f"s{i}"
            return current_context().session, current_context().agent

    assert await asyncio.gather(*(task(i) for i in range(n))) == [(f"s{i}", None) for i in range(n)]


def test_threads_sharing_one_object_each_leave_their_own_entry() -> None:
    bot = context(agent="support-bot")
    n = 6
    all_inside = threading.Barrier(n)
    turn = [threading.Event() for _ in range(n)]
    seen: dict[int, tuple[str | None, str | None, str | None]] = {}

    def work(i: int) -> None:
        with context(session=f"thread-{i}"):
            with bot:
                all_inside.wait()
                turn[i].wait(5)  # leave in the order the main thread picks
                during = current_context().session
            after = current_context()
            seen[i] = (during, after.session, after.agent)
            if i + 1 < n:
                turn[i + 1].set()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    turn[0].set()  # thread 0 entered in an unknown order but leaves first, then 1, 2, ...
    for t in threads:
        t.join(10)
    assert seen == {i: (f"thread-{i}", f"thread-{i}", None) for i in range(n)}


def test_one_object_nested_in_itself_unwinds_one_level_at_a_time() -> None:
    ctx = context(agent="a", properties={"depth": 1})
    with context(session="s1"), ctx as first:
        with context(session="s2"), ctx as second:
            with ctx as third:
                assert (third.session, third.agent) == ("s2", "a")
            assert current_context() is second
        assert current_context() is first
        assert current_context().session == "s1"
    assert current_context() == current_context().__class__()  # back to the empty context


def test_leaving_an_object_never_entered_here_changes_nothing() -> None:
    bot = context(agent="bot")
    with context(session="mine"):
        bot.__exit__(None, None, None)  # e.g. a generator finalised in another thread
        assert current_context().session == "mine"


def test_a_generator_finished_in_a_copied_context_restores_that_copy() -> None:
    bot = context(agent="bot")

    def steps() -> Iterator[str | None]:
        with bot:
            yield current_context().agent
        yield current_context().agent

    gen = steps()
    with context(session="outer"):
        assert next(gen) == "bot"
        # The rest runs in a copy of this context (as a framework might do): leaving `bot` there
        # must not raise, and must give that copy back its state from before the entry.
        copy = contextvars.copy_context()
        assert copy.run(next, gen) is None
        assert copy[next(v for v in copy if v.name == "voker_context")].session == "outer"


def test_entries_do_not_keep_context_objects_alive() -> None:
    shared = context(agent="bot")
    for i in range(1000):
        with shared, context(session=f"s{i}"):
            pass
    one = context(session="once")
    ref = weakref.ref(one)
    with one:
        pass
    del one
    gc.collect()
    assert ref() is None
    assert current_context() == current_context().__class__()


@pytest.mark.parametrize("leave_first", ["A", "B"])
async def test_reused_object_in_tasks_that_outlive_each_other(leave_first: str) -> None:
    bot = context(session="bot-session")
    a_inside, b_inside, release_a, release_b = (asyncio.Event() for _ in range(4))

    async def a() -> str | None:
        async with context(session="A"):
            async with bot:
                a_inside.set()
                await release_a.wait()
            return current_context().session

    async def b() -> str | None:
        async with context(session="B"):
            await a_inside.wait()
            async with bot:
                b_inside.set()
                await release_b.wait()
            return current_context().session

    task_a, task_b = asyncio.create_task(a()), asyncio.create_task(b())
    await b_inside.wait()
    first, second = (release_a, release_b) if leave_first == "A" else (release_b, release_a)
    first.set()
    await asyncio.sleep(0.01)
    second.set()
    assert [await task_a, await task_b] == ["A", "B"]
