"""``voker_core.context`` / ``current_context``: nesting, isolation, lazy person, decorator use.

The last tests check the user-visible result: events created through ``VokerClient`` inside
contexts land on the devserver with the right session, agent and person.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import voker_core
from voker_core import VokerClient, context, current_context


def test_empty_by_default() -> None:
    ctx = current_context()
    assert (ctx.session, ctx.agent, ctx.agent_version, ctx.resolve_person()) == (None,) * 4
    assert dict(ctx.properties) == {}


def test_nesting_inner_fields_override_and_properties_merge() -> None:
    with context(session="s1", agent="a1", person="p1", properties={"tenant": "acme", "x": 1}):
        with context(agent="a2", properties={"x": 2}) as inner:
            assert (inner.session, inner.agent, inner.resolve_person()) == ("s1", "a2", "p1")
            assert dict(inner.properties) == {"tenant": "acme", "x": 2}
            assert current_context() is inner
        outer = current_context()
        assert (outer.agent, dict(outer.properties)) == ("a1", {"tenant": "acme", "x": 1})
    assert current_context().session is None


def test_context_is_frozen() -> None:
    with context(session="s", properties={"a": 1}) as ctx:
        with pytest.raises(AttributeError):
            ctx.session = "other"  # type: ignore[misc]
        with pytest.raises(TypeError):
            ctx.properties["a"] = 2  # type: ignore[index]


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="session"):
        context(session="")
    with pytest.raises(TypeError, match="agent"):
        context(agent=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="properties"):
        context(properties=["x"])  # type: ignore[arg-type]


def test_threads_do_not_see_each_others_context() -> None:
    barrier = threading.Barrier(8)
    seen: dict[int, tuple[str | None, str | None]] = {}

    def work(n: int) -> None:
        with context(session=f"s{n}", person=f"p{n}"):
            barrier.wait()  # every thread is inside its own context at the same time
            ctx = current_context()
            seen[n] = (ctx.session, ctx.resolve_person())

    with context(session="main"):
        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert current_context().session == "main"
    assert seen == {n: (f"s{n}", f"p{n}") for n in range(8)}


def test_pool_threads_start_without_a_context() -> None:
    with context(session="main"), ThreadPoolExecutor(2) as pool:
        assert pool.submit(lambda: current_context().session).result() is None


async def test_asyncio_gather_tasks_are_isolated() -> None:
    async def task(n: int) -> tuple[str | None, str | None]:
        with context(session=f"s{n}"):
            await asyncio.sleep(0.01 * (5 - n))  # interleave the tasks
            with context(agent=f"a{n}"):
                await asyncio.sleep(0)
                ctx = current_context()
                return ctx.session, ctx.agent

    with context(agent="outer"):
        results = await asyncio.gather(*(task(n) for n in range(5)))
        assert current_context().agent == "outer"
    assert results == [(f"s{n}", f"a{n}") for n in range(5)]


async def test_tasks_inherit_the_creators_context() -> None:
    async def read() -> str | None:
        return current_context().session

    async with context(session="parent"):
        assert await asyncio.create_task(read()) == "parent"


def test_lazy_person_is_resolved_once_and_only_when_needed() -> None:
    calls: list[int] = []

    def load() -> str:
        calls.append(1)
        return "user-1"

    with context(session="s", person=load):
        assert calls == []  # entering the context resolves nothing
        with context(agent="inner"):
            assert current_context().resolve_person() == "user-1"
        assert current_context().resolve_person() == "user-1"
        assert current_context().has_person
    assert calls == [1]


def test_lazy_person_resolved_once_across_threads() -> None:
    calls: list[int] = []
    lock = threading.Lock()

    def load() -> str:
        with lock:
            calls.append(1)
        return "u"

    with context(person=load):
        ctx = current_context()
        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(lambda _: ctx.resolve_person(), range(32))) == {"u"}
    assert calls == [1]


async def test_async_person_resolver() -> None:
    calls: list[int] = []

    async def load() -> str:
        calls.append(1)
        await asyncio.sleep(0)
        return "async-user"

    with context(person=load):
        assert await current_context().aresolve_person() == "async-user"
        assert await current_context().aresolve_person() == "async-user"
    assert calls == [1]


def test_decorator_on_sync_async_and_generator_functions() -> None:
    @context(session="deco", agent="bot")
    def sync_fn() -> tuple[str | None, str | None]:
        return current_context().session, current_context().agent

    @context(session="deco-async")
    async def async_fn() -> str | None:
        await asyncio.sleep(0)
        return current_context().session

    @context(session="deco-gen")
    def gen_fn() -> Iterator[str | None]:
        yield current_context().session
        yield current_context().session

    assert sync_fn() == ("deco", "bot")
    assert asyncio.run(async_fn()) == "deco-async"
    assert list(gen_fn()) == ["deco-gen", "deco-gen"]
    assert current_context().session is None
    # Each call enters afresh: a recursive or concurrent call does not disturb another.
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda _: sync_fn(), range(8))) == [("deco", "bot")] * 8


def test_same_context_object_entered_twice_nests() -> None:
    ctx = context(agent="a")
    with context(session="s1"), ctx:
        with context(session="s2"), ctx:
            assert current_context().session == "s2"
        assert current_context().session == "s1"
    assert current_context().agent is None


# --- what reaches the server ------------------------------------------------------------------


@pytest.fixture
def client(voker_server: Any) -> Iterator[VokerClient]:
    with VokerClient(api_key="k", base_url=voker_server.base_url) as c:
        yield c


def test_events_from_threads_carry_their_own_context(
    voker_server: Any, client: VokerClient
) -> None:
    def work(n: int) -> None:
        with context(session=f"thread-{n}", agent="bot", person=lambda: f"user-{n}"):
            for i in range(5):
                client.events.create(event_name="e", properties={"i": i})

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    assert client.flush(10)
    for n in range(4):
        events = voker_server.events(session=f"thread-{n}")
        assert [e["properties"]["i"] for e in events] == list(range(5))
        assert {(e["agent"], e["person"]) for e in events} == {("bot", f"user-{n}")}


async def test_events_from_gathered_tasks_carry_their_own_context(
    voker_server: Any, client: VokerClient
) -> None:
    async def conversation(n: int) -> None:
        async with context(session=f"task-{n}", person=f"p{n}"):
            for i in range(3):
                await asyncio.sleep(0)
                client.events.create(event_name="turn", properties={"i": i})

    await asyncio.gather(*(conversation(n) for n in range(5)))
    assert await asyncio.to_thread(client.flush, 10)
    for n in range(5):
        events = voker_server.events(session=f"task-{n}")
        assert [(e["person"], e["properties"]["i"]) for e in events] == [
            (f"p{n}", i) for i in range(3)
        ]


def test_default_client_in_a_decorated_function(voker_server: Any) -> None:
    default = voker_core.configure(api_key="k", base_url=voker_server.base_url)

    @context(session="decorated", agent="helper")
    def handle() -> None:
        voker_core.get_client().events.create(event_name="custom", properties={"ok": True})

    try:
        handle()
        assert default.flush(5)
    finally:
        voker_core.configure(enabled=False)
    [event] = voker_server.events(session="decorated")
    assert (event["agent"], event["properties"]) == ("helper", {"ok": True})


async def test_decorator_on_callables_returning_coroutines(
    voker_server: Any, client: VokerClient
) -> None:
    """Async work the decorator cannot tell from its signature still runs in the context: a
    static or class method, an object with an async ``__call__``, an async function under a
    plain decorator."""

    def plain_decorator(func: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

        return call

    class Handlers:
        @context(session="static", agent="bot")
        @staticmethod
        async def static_handler() -> str:
            await asyncio.sleep(0)
            client.events.create(event_name="static")
            return "static"

        @context(session="class", agent="bot")
        @classmethod
        async def class_handler(cls) -> str:
            await asyncio.sleep(0)
            client.events.create(event_name="class", properties={"cls": cls.__name__})
            return "class"

    class Callable:
        async def __call__(self, n: int) -> int:
            await asyncio.sleep(0)
            client.events.create(event_name="callable", properties={"n": n})
            return n

    @context(session="wrapped", agent="bot")
    @plain_decorator
    async def wrapped_handler() -> str:
        await asyncio.sleep(0)
        client.events.create(event_name="wrapped")
        return "wrapped"

    on_callable = context(session="callable", agent="bot")(Callable())
    results = [
        await Handlers.static_handler(),
        await Handlers().static_handler(),
        await Handlers().class_handler(),
        await on_callable(7),
        await wrapped_handler(),
    ]
    assert results == ["static", "static", "class", 7, "wrapped"]
    assert current_context().session is None
    assert await asyncio.to_thread(client.flush, 10)
    landed = [(e["event_name"], e["session"], e["agent"]) for e in voker_server.events()]
    assert sorted(landed) == sorted(
        [
            ("static", "static", "bot"),
            ("static", "static", "bot"),
            ("class", "class", "bot"),
            ("callable", "callable", "bot"),
            ("wrapped", "wrapped", "bot"),
        ]
    )
    assert voker_server.events(event_name="class")[0]["properties"] == {"cls": "Handlers"}


def test_a_client_that_is_not_one_is_refused_naming_the_argument() -> None:
    from voker_core import ApiClient
    from voker_core.ai.provider_openai import OpenAI

    for wrong in ("https://voker.example", VokerClient, ApiClient(api_key="k")):
        with pytest.raises(TypeError, match=r"^client must be a VokerClient, got "):
            context(session="s", client=wrong)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"^voker_client must be a VokerClient, got "):
            OpenAI(api_key="k", voker_client=wrong)  # type: ignore[arg-type]


def test_the_context_modules_names_are_exported_by_the_package() -> None:
    # ``voker_core.context`` is the context class, so the docs name ``voker_core.AsyncResolver``.
    import importlib

    module = importlib.import_module("voker_core.context")
    for name in ("AsyncResolver", "PersonSource", "SessionSource"):
        assert getattr(voker_core, name) is getattr(module, name)
        assert name in voker_core.__all__
