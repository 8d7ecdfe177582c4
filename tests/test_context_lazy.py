"""Lazy ``person`` and ``session`` sources: resolved at most once per context, by sync and async
readers alike, and never raising into the application.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from voker_core import VokerClient, context, current_context
from voker_core.context import AsyncResolver, PersonSource, SessionSource


class Counting:
    """A source usable both ways (``__call__`` and ``aresolve``), counting each way's calls."""

    def __init__(self, sync_value: str = "sync", async_value: str = "async") -> None:
        self.sync_value, self.async_value = sync_value, async_value
        self.sync_calls = self.async_calls = 0

    def __call__(self) -> str:
        self.sync_calls += 1
        return self.sync_value

    async def aresolve(self) -> str:
        self.async_calls += 1
        await asyncio.sleep(0.02)  # the database query
        return self.async_value


def test_the_exported_source_types_accept_every_kind_of_source() -> None:
    async def coroutine() -> str:
        return "x"

    sources: list[SessionSource] = ["s", lambda: "s", coroutine, Counting()]
    people: list[PersonSource] = ["p", lambda: None, coroutine, Counting()]
    assert isinstance(Counting(), AsyncResolver)
    for session, person in zip(sources, people, strict=True):
        context(session=session, person=person)


# --- has_session / aresolve_session -----------------------------------------------------------


def test_has_session_does_not_resolve() -> None:
    source = Counting()
    assert not current_context().has_session
    with context(session=source):
        assert current_context().has_session
        with context(agent="nested"):
            assert current_context().has_session
        assert source.sync_calls == 0
    with context(session="plain"):
        assert current_context().has_session


async def test_aresolve_session_awaits_an_async_source_once_and_shares_it() -> None:
    source = Counting(async_value="conv-9")
    with context(session=source):
        ctx = current_context()
        with context(agent="nested"):
            assert await current_context().aresolve_session() == "conv-9"
        assert await ctx.aresolve_session() == "conv-9"
        assert ctx.session == "conv-9"  # the sync reader gets the value the async one resolved
    assert (source.async_calls, source.sync_calls) == (1, 0)
    with context(session="plain"):
        assert await current_context().aresolve_session() == "plain"
    assert await current_context().aresolve_session() is None


async def test_aresolve_session_with_a_coroutine_function() -> None:
    calls: list[int] = []

    async def load() -> str:
        calls.append(1)
        await asyncio.sleep(0)
        return "from-coroutine"

    with context(session=load):
        assert await current_context().aresolve_session() == "from-coroutine"
        assert current_context().session == "from-coroutine"
    assert calls == [1]


def test_an_await_only_session_reads_as_none_from_sync_code_until_awaited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def load() -> str:
        return "awaited"

    with context(session=load), warnings.catch_warnings():
        warnings.simplefilter("error")  # no "coroutine was never awaited"
        ctx = current_context()
        assert ctx.session is None
        assert ctx.session is None
        assert caplog.text.count("can only be awaited") == 1
        assert asyncio.run(ctx.aresolve_session()) == "awaited"  # it was not settled as None
        assert ctx.session == "awaited"


def test_the_sync_value_is_what_async_readers_get() -> None:
    source = Counting()
    with context(session=source, person=source):
        ctx = current_context()
        assert (ctx.session, ctx.resolve_person()) == ("sync", "sync")
        assert asyncio.run(ctx.aresolve_session()) == "sync"
        assert asyncio.run(ctx.aresolve_person()) == "sync"
    assert (source.sync_calls, source.async_calls) == (2, 0)  # once each for person and session


# --- one resolution shared by concurrent awaiters ---------------------------------------------


async def test_gathered_awaiters_share_one_resolution() -> None:
    person, session = Counting(async_value="u1"), Counting(async_value="conv")
    with context(session=session, person=person):
        ctx = current_context()
        got = await asyncio.gather(
            *(ctx.aresolve_person() for _ in range(5)),
            *(ctx.aresolve_session() for _ in range(5)),
        )
    assert got == ["u1"] * 5 + ["conv"] * 5
    assert (person.async_calls, session.async_calls) == (1, 1)
    assert (person.sync_calls, session.sync_calls) == (0, 0)


async def test_gathered_tasks_of_a_nested_context_share_the_outer_resolution() -> None:
    calls: list[int] = []

    async def load() -> str:
        calls.append(1)
        await asyncio.sleep(0.02)
        return "user-1"

    async def call(n: int) -> str | None:
        async with context(agent=f"agent-{n}"):  # does not set person: shares the outer one
            return await current_context().aresolve_person()

    with context(person=load):
        assert await asyncio.gather(*(call(n) for n in range(5))) == ["user-1"] * 5
    assert calls == [1]


async def test_a_cancelled_awaiter_does_not_cancel_the_others_resolution() -> None:
    source = Counting(async_value="u")
    with context(person=source):
        ctx = current_context()
        first = asyncio.create_task(ctx.aresolve_person())
        second = asyncio.create_task(ctx.aresolve_person())
        await asyncio.sleep(0.005)  # both are waiting on the one resolution
        first.cancel()
        assert await second == "u"
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await ctx.aresolve_person() == "u"
    assert source.async_calls == 1


def test_a_resolution_cancelled_with_its_loop_is_retried_on_the_next_one() -> None:
    started = threading.Event()
    calls: list[int] = []

    async def slow() -> str:
        calls.append(1)
        started.set()
        await asyncio.sleep(10 if len(calls) == 1 else 0)
        return "u"

    with context(person=slow):
        ctx = current_context()

        async def abandon() -> None:
            waiter = asyncio.create_task(ctx.aresolve_person())
            await asyncio.sleep(0.01)
            assert not waiter.done()  # returns with the resolution still running

        asyncio.run(abandon())  # asyncio.run cancels it while shutting the loop down
        assert started.is_set()
        assert asyncio.run(ctx.aresolve_person()) == "u"  # not poisoned by the cancellation
    assert calls == [1, 1]


def test_event_loops_in_two_threads_get_one_value() -> None:
    calls: list[str] = []
    lock = threading.Lock()
    both_waiting = threading.Barrier(2)

    async def load() -> str:
        with lock:
            calls.append(threading.current_thread().name)
            value = f"user-from-{threading.current_thread().name}"
        await asyncio.sleep(0.02)
        return value

    results: dict[str, str | None] = {}
    with context(person=load):
        ctx = current_context()

        def run(name: str) -> None:
            async def main() -> str | None:
                both_waiting.wait()
                return await ctx.aresolve_person()

            results[name] = asyncio.run(main())

        threads = [threading.Thread(target=run, args=(f"t{i}",), name=f"t{i}") for i in (1, 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(set(results.values())) == 1  # both loops see the first value kept
        assert ctx.resolve_person() == results["t1"]
    assert 1 <= len(calls) <= 2


def test_threads_resolving_synchronously_call_the_source_once() -> None:
    source = Counting()
    barrier = threading.Barrier(8)
    seen: list[str | None] = []

    with context(session=source):
        ctx = current_context()

        def read() -> None:
            barrier.wait()
            seen.append(ctx.session)

        threads = [threading.Thread(target=read) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    assert seen == ["sync"] * 8
    assert source.sync_calls == 1


# --- failing sources --------------------------------------------------------------------------


def _failures(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "voker" and text in r.getMessage()]


def test_a_raising_session_source_falls_back_to_one_random_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    def broken() -> str:
        calls.append(1)
        raise ConnectionError("session store unavailable")

    with context(session=broken):
        first = current_context().session
        assert first is not None and len(first) == 32 and int(first, 16) >= 0  # uuid4 hex
        with context(agent="nested"):
            assert current_context().session == first
        assert asyncio.run(current_context().aresolve_session()) == first
    with context(session=broken):
        assert current_context().session not in (None, first)  # one per context
    assert calls == [1, 1]
    [record, _] = _failures(caplog, "session source raised")
    assert record.levelno == logging.WARNING
    assert record.exc_info is not None and isinstance(record.exc_info[1], ConnectionError)


async def test_a_raising_async_session_source_falls_back_too(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken() -> str:
        await asyncio.sleep(0)
        raise ConnectionError("session store unavailable")

    with context(session=broken):
        ctx = current_context()
        got = await asyncio.gather(*(ctx.aresolve_session() for _ in range(3)))
        assert len(set(got)) == 1 and got[0] is not None and len(got[0]) == 32
        assert ctx.session == got[0]
    assert len(_failures(caplog, "session source raised")) == 1


def test_a_raising_person_source_means_no_person_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    def broken() -> str:
        calls.append(1)
        raise LookupError("user table down")

    with context(person=broken):
        ctx = current_context()
        assert ctx.has_person
        assert ctx.resolve_person() is None
        assert ctx.person is None
        assert asyncio.run(ctx.aresolve_person()) is None
    assert calls == [1]
    [record] = _failures(caplog, "resolving the context's person failed")
    assert record.exc_info is not None and isinstance(record.exc_info[1], LookupError)


def test_blank_or_non_string_values_from_a_source() -> None:
    with context(session=lambda: "   ", person=lambda: 42):  # type: ignore[arg-type]
        assert current_context().session is None  # blank means none
        assert current_context().resolve_person() == "42"


# --- what reaches the server ------------------------------------------------------------------


@pytest.fixture
def client(voker_server: Any) -> Iterator[VokerClient]:
    with VokerClient(api_key="k", base_url=voker_server.base_url) as c:
        yield c


def test_a_raising_session_source_does_not_break_events_or_llm_calls(
    voker_server: Any, client: VokerClient, fake_llm: Any
) -> None:
    from voker_core.ai.provider_openai import OpenAI

    def broken() -> str:
        raise ConnectionError("session store unavailable")

    llm = OpenAI(api_key="x", base_url=fake_llm.openai_base_url, voker_client=client)
    with context(session=broken, agent="bot", person=broken):
        client.events.create(event_name="before", properties={})
        reply = llm.chat.completions.create(
            model="gpt-4.1-mini", messages=[{"role": "user", "content": "hi"}]
        )
        client.events.create(event_name="after", properties={})
    assert reply.choices[0].message.content
    assert client.flush(10)
    events = voker_server.events()
    assert sorted(e["event_name"] for e in events) == ["after", "before", "llm"]
    assert len({e["session"] for e in events}) == 1  # the fallback id keeps them together
    assert {e["person"] for e in events} == {None}
