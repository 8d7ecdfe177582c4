"""Where session, agent, version, person, properties and client come from, in order:
handler arguments > top-level run metadata > voker context > LangGraph thread_id."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig, RunnableLambda

import voker_core
from tests.langchain.models import ScriptedChatModel, reply
from voker_langchain import VokerCallbackHandler


def chain() -> Any:
    prompt = ChatPromptTemplate.from_messages([("human", "{q}")])
    return prompt | ScriptedChatModel(replies=[reply("ok")])


def test_handler_arguments_win(voker_client: Any, landed: Any) -> None:
    handler = VokerCallbackHandler(
        agent="ctor-agent",
        session="ctor-session",
        agent_version="v2",
        person="ctor-person",
        client=voker_client,
    )
    with voker_core.context(session="ctx-session", agent="ctx-agent", person="ctx-person"):
        chain().invoke(
            {"q": "x"},
            config={
                "callbacks": [handler],
                "metadata": {
                    "voker_session": "meta-session",
                    "voker_agent": "meta-agent",
                    "voker_person": "meta-person",
                },
                "configurable": {"thread_id": "thread-1"},
            },
        )

    events = landed(2, session="ctor-session")
    for event in events:
        assert (event["agent"], event["agent_version"], event["person"]) == (
            "ctor-agent",
            "v2",
            "ctor-person",
        )
    assert voker_core.current_context().session is None


def test_metadata_beats_context(voker_client: Any, landed: Any) -> None:
    handler = VokerCallbackHandler(client=voker_client)
    with voker_core.context(
        session="ctx-session", agent="ctx-agent", person="ctx-person", properties={"tenant": "acme"}
    ):
        chain().invoke(
            {"q": "x"},
            config={
                "callbacks": [handler],
                "metadata": {
                    "voker_session": "meta-session",
                    "voker_agent": "meta-agent",
                    "voker_agent_version": "m1",
                    "voker_properties": {"experiment": "b"},
                },
            },
        )

    events = landed(2, session="meta-session")
    for event in events:
        assert (event["agent"], event["agent_version"]) == ("meta-agent", "m1")
        assert event["person"] == "ctx-person"  # not in metadata: the context's
        assert event["properties"]["tenant"] == "acme"
        assert event["properties"]["experiment"] == "b"


def test_context_beats_thread_id(voker_client: Any, landed: Any) -> None:
    handler = VokerCallbackHandler(client=voker_client)
    with voker_core.context(session="ctx-session", agent="ctx-agent", agent_version="c1"):
        chain().invoke(
            {"q": "x"}, config={"callbacks": [handler], "configurable": {"thread_id": "thread-1"}}
        )

    events = landed(2, session="ctx-session")
    assert {(e["agent"], e["agent_version"]) for e in events} == {("ctx-agent", "c1")}


def test_thread_id_alone_gives_the_session_and_no_agent(voker_client: Any, landed: Any) -> None:
    handler = VokerCallbackHandler(client=voker_client)
    # LangGraph copies configurable["thread_id"] into the metadata (see test_langgraph); with
    # plain LangChain runnables it is set there directly, as LangSmith's threads expect.
    chain().invoke(
        {"q": "x"}, config={"callbacks": [handler], "metadata": {"thread_id": "thread-only"}}
    )

    events = landed(2, session="thread-only")
    # The API accepts events without an agent; the handler does not require one.
    assert {e["agent"] for e in events} == {None}


def test_no_session_anywhere_uses_the_run_id(
    voker_client: Any, landed: Any, caplog: pytest.LogCaptureFixture
) -> None:
    handler = VokerCallbackHandler(agent="a", client=voker_client)
    with caplog.at_level(logging.WARNING, logger="voker"):
        chain().invoke({"q": "x"}, config={"callbacks": [handler]})
        chain().invoke({"q": "y"}, config={"callbacks": [handler]})

    events = landed(4)
    for event in events:
        assert event["session"] == event["properties"]["trace_id"]
    assert len({e["session"] for e in events}) == 2
    warnings = [r for r in caplog.records if "no session" in r.getMessage()]
    assert len(warnings) == 1


def test_child_metadata_does_not_move_a_trace(handler: Any, landed: Any) -> None:
    inner = chain().with_config(metadata={"voker_session": "inner-session"})

    def outer_step(q: str, config: RunnableConfig) -> Any:
        return inner.invoke({"q": q}, config=config)

    outer = RunnableLambda(outer_step, name="outer")

    outer.invoke("x", config={"callbacks": [handler], "metadata": {"voker_session": "outer"}})

    events = landed(2, session="outer")
    assert [e["event_name"] for e in events] == ["llm", "chain"]
    assert handler.open_runs == 0


def test_context_client_and_lazy_person(voker_client: Any, landed: Any) -> None:
    calls: list[str] = []

    def current_user() -> str:
        calls.append("resolved")
        return "user-42"

    handler = VokerCallbackHandler()  # no client: the context's
    with voker_core.context(session="lazy", agent="a", person=current_user, client=voker_client):
        chain().invoke({"q": "x"}, config={"callbacks": [handler]})
        chain().invoke({"q": "y"}, config={"callbacks": [handler]})

    events = landed(4, session="lazy")
    assert {e["person"] for e in events} == {"user-42"}
    assert calls == ["resolved"]  # once per context


def test_default_client(default_voker_client: Any, voker_server: Any) -> None:
    handler = VokerCallbackHandler(agent="a", session="default-client")
    chain().invoke({"q": "x"}, config={"callbacks": [handler]})

    assert default_voker_client.flush(10)
    assert len(voker_server.wait_for_events(2, session="default-client")) == 2


class AsyncOnlyUser:
    """A lazy person that must not be resolved synchronously on an event loop (as Django's
    user is under ASGI)."""

    def __call__(self) -> str:
        raise AssertionError("resolved synchronously")

    async def aresolve(self) -> str:
        return "async-user"


async def test_async_run_resolves_the_person_without_blocking(
    voker_client: Any, landed: Any
) -> None:
    handler = VokerCallbackHandler(agent="a", client=voker_client)
    async with voker_core.context(session="async-person", person=AsyncOnlyUser()):
        await chain().ainvoke({"q": "x"}, config={"callbacks": [handler]})

    events = landed(2, session="async-person")
    assert [e["event_name"] for e in events] == ["llm", "chain"]  # order kept while waiting
    assert {e["person"] for e in events} == {"async-user"}


def test_an_async_person_survives_asyncio_run_ending_right_after_the_run(
    voker_client: Any, landed: Any
) -> None:
    """A script's ``asyncio.run(chain.ainvoke(...))``: the loop shuts down (cancelling every
    pending task, the person's lookup among them) as soon as the run returns."""

    async def lookup_person() -> str:
        await asyncio.sleep(0.05)  # a database or HTTP lookup
        return "user-42"

    handler = VokerCallbackHandler(agent="a", client=voker_client)

    async def main() -> None:
        with voker_core.context(session="script", person=lookup_person):
            await chain().ainvoke({"q": "x"}, config={"callbacks": [handler]})

    asyncio.run(main())

    events = landed(2, session="script")
    assert [e["event_name"] for e in events] == ["llm", "chain"]
    assert {e["person"] for e in events} == {"user-42"}


async def test_a_plain_person_function_is_not_called_on_the_event_loop(
    voker_client: Any, landed: Any
) -> None:
    loop_thread = threading.current_thread()
    callers: list[threading.Thread] = []

    def lookup_person() -> str:  # blocking, as a database query is
        callers.append(threading.current_thread())
        return "user-7"

    handler = VokerCallbackHandler(agent="a", client=voker_client)
    async with voker_core.context(session="loop-person", person=lookup_person):
        await chain().ainvoke({"q": "x"}, config={"callbacks": [handler]})

    events = landed(2, session="loop-person")
    assert {e["person"] for e in events} == {"user-7"}
    assert len(callers) == 1 and callers[0] is not loop_thread


class AsyncOnlySession:
    """A lazy session that must not be resolved synchronously on an event loop (as Django's is
    under ASGI, when a first-time visitor's session row must be created)."""

    def __call__(self) -> str:
        raise AssertionError("resolved synchronously")

    async def aresolve(self) -> str:
        return "async-session"


async def test_async_run_resolves_the_session_without_blocking(
    voker_client: Any, landed: Any
) -> None:
    handler = VokerCallbackHandler(agent="a", client=voker_client)
    async with voker_core.context(session=AsyncOnlySession(), person=AsyncOnlyUser()):
        await chain().ainvoke({"q": "x"}, config={"callbacks": [handler]})

    events = landed(2, session="async-session")
    assert [e["event_name"] for e in events] == ["llm", "chain"]
    assert {e["person"] for e in events} == {"async-user"}


async def test_a_lazy_session_giving_none_falls_back_to_the_thread_id(
    voker_client: Any, landed: Any
) -> None:
    async def no_session() -> None:
        return None

    handler = VokerCallbackHandler(agent="a", client=voker_client)
    async with voker_core.context(session=no_session):
        await chain().ainvoke(
            {"q": "x"}, config={"callbacks": [handler], "metadata": {"thread_id": "thread-9"}}
        )

    assert len(landed(2, session="thread-9")) == 2


def test_bad_handler_arguments_raise_at_once() -> None:
    with pytest.raises(TypeError, match="session"):
        VokerCallbackHandler(session=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="agent"):
        VokerCallbackHandler(agent=" ")


def test_a_failing_person_source_never_breaks_the_chain(voker_client: Any, landed: Any) -> None:
    def broken_user() -> str:
        raise RuntimeError("user table unavailable")

    handler = VokerCallbackHandler(agent="a", client=voker_client)
    with voker_core.context(session="broken-person", person=broken_user):
        result = chain().invoke({"q": "x"}, config={"callbacks": [handler]})

    assert result.content == "ok"
    events = landed(2, session="broken-person")
    assert {e["person"] for e in events} == {None}
