"""Cancelled async runs (timeouts, ``task.cancel()``, LangGraph cancelling a sibling branch).

LangChain sends no end or error callback for a model call or retrieval whose task is cancelled
(nor, before langchain-core 1.8, for a tool call). Each must still be recorded exactly once,
with a ``CancelledError`` error, and its state freed; runs that do end must not be recorded a
second time.
"""

from __future__ import annotations

import asyncio
import gc
import operator
import sys
from collections.abc import AsyncIterator
from typing import Annotated, Any, TypedDict

import langchain_core
import pytest
from langchain_core.callbacks import CallbackManager
from langchain_core.documents import Document
from langchain_core.messages import AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import BaseTool
from packaging.version import Version

from tests.langchain.models import ScriptedChatModel, ScriptedLLM
from voker_langchain import VokerCallbackHandler
from voker_langchain._runs import RunRegistry

SLOW = 30.0  # far longer than any test: these calls only end by being cancelled


class StallingChatModel(ScriptedChatModel):
    """Streams its first ``stall_after`` tokens, then hangs (a provider that stops sending)."""

    streaming: bool = False
    stall_after: int = 2

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for token in ["Hello", " there", " and", " more"][: self.stall_after]:
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=token))
            if run_manager is not None:
                await run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk
        await asyncio.sleep(SLOW)


class SlowTool(BaseTool):
    name: str = "slow_lookup"
    description: str = "Looks something up, slowly."

    def _run(self, query: str) -> str:
        raise NotImplementedError

    async def _arun(self, query: str) -> str:
        await asyncio.sleep(SLOW)
        return "never"


class SlowRetriever(BaseRetriever):
    def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        raise NotImplementedError

    async def _aget_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        await asyncio.sleep(SLOW)
        return []


def config(handler: VokerCallbackHandler, session: str) -> Any:
    return {"callbacks": [handler], "metadata": {"voker_session": session}}


def assert_no_state(handler: VokerCallbackHandler) -> None:
    assert handler.open_runs == 0
    # Tasks still running (the test's own) may keep an empty entry until they are done.
    assert not any(handler._task_runs.values())


# langchain-core 1.8+ reports a cancelled tool call itself: on_tool_error with the
# CancelledError (which has no message). Before, it sent nothing and the handler noticed.
TOOLS_REPORT_CANCELLATION = Version(langchain_core.__version__) >= Version("1.8")


def assert_cancelled(props: dict[str, Any]) -> None:
    """Recorded by the handler when it noticed the cancellation LangChain did not report."""
    assert props["error"]["type"] == "CancelledError"
    assert props["error"]["message"].startswith("cancelled before the run ended")


async def test_chain_cancelled_by_wait_for(handler: Any, landed: Any) -> None:
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | ScriptedChatModel(delay=SLOW)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(chain.ainvoke({"q": "hi"}, config(handler, "wf")), 0.3)
    await asyncio.sleep(0.05)  # the done-callbacks of the cancelled task

    events = landed(2, session="wf")
    assert handler.open_runs == 0
    llm = next(e["properties"] for e in events if e["event_name"] == "llm")
    chain_event = next(e["properties"] for e in events if e["event_name"] == "chain")
    assert_cancelled(llm)
    assert llm["inputs"]["messages"] == [{"role": "user", "content": "hi"}]
    assert llm["output"] is None and llm["parent_run_id"] == chain_event["run_id"]
    assert llm["latency_ms"] > 0
    assert chain_event["error"]["type"] == "CancelledError"  # LangChain reports the chain's


async def test_bare_model_call_in_a_cancelled_task(handler: Any, landed: Any) -> None:
    model = ScriptedChatModel(delay=SLOW)
    task = asyncio.create_task(model.ainvoke("hi", config(handler, "tc")))
    await asyncio.sleep(0.05)
    assert handler.open_runs == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    [event] = landed(1, session="tc")
    assert event["event_name"] == "llm"
    assert_cancelled(event["properties"])
    assert_no_state(handler)


async def test_cancelled_streaming_call_keeps_its_partial_output(handler: Any, landed: Any) -> None:
    model = StallingChatModel(streaming=True, stall_after=2)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(model.ainvoke("hi", config(handler, "partial"), stream=True), 0.3)
    await asyncio.sleep(0.05)

    [event] = landed(1, session="partial")
    props = event["properties"]
    assert_cancelled(props)
    assert props["stream"] is True
    assert props["output"]["content"] == "Hello there"
    assert 0 <= props["time_to_first_token_ms"] <= props["latency_ms"]
    assert_no_state(handler)


async def test_cancelled_completion_model_call(handler: Any, landed: Any) -> None:
    # A completion model (BaseLLM) reports its own cancellation (on_llm_error), from a task of
    # its own, as it delivers its start: recorded once, when the timeout hits, not before.
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(ScriptedLLM(delay=SLOW).ainvoke("hi", config(handler, "llm")), 0.3)
    await asyncio.sleep(0.05)

    [event] = landed(1, session="llm")
    props = event["properties"]
    assert props["error"]["type"] == "CancelledError"
    assert props["latency_ms"] >= 250
    assert props["inputs"]["prompt"] == "hi" and props["output"] is None
    assert_no_state(handler)


async def test_cancelled_tool_and_retriever_runs(handler: Any, landed: Any) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(SlowTool().ainvoke("order-1", config(handler, "tool")), 0.3)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(SlowRetriever().ainvoke("q", config(handler, "ret")), 0.3)
    await asyncio.sleep(0.05)

    [tool] = landed(1, session="tool")
    [retriever] = landed(1, session="ret")
    assert tool["event_name"] == "tool" and retriever["event_name"] == "retriever"
    if TOOLS_REPORT_CANCELLATION:
        assert tool["properties"]["error"] == {
            "type": "CancelledError",
            "message": "",
            "status_code": None,
        }
    else:
        assert_cancelled(tool["properties"])
    assert tool["properties"]["input"] == "order-1"
    assert_cancelled(retriever["properties"])
    assert retriever["properties"]["query"] == "q"
    assert_no_state(handler)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is Python 3.11+")
async def test_timeout_caught_inside_a_long_lived_task(handler: Any, landed: Any) -> None:
    # asyncio.timeout (and wait_for on 3.12+) cancels the caller's own task, which goes on: no
    # task ends, so the cancelled runs are finished when the task moves on.
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | ScriptedChatModel(delay=SLOW)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await chain.ainvoke({"q": "slow"}, config(handler, "inline-chain"))
    assert handler.open_runs == 0  # the chain's end finished the model call it awaited

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await ScriptedChatModel(delay=SLOW).ainvoke("slow", config(handler, "inline-bare"))
    assert handler.open_runs == 1  # a bare call: nothing has ended yet
    reply = await ScriptedChatModel().ainvoke("next", config(handler, "inline-next"))
    assert reply.content == "echo: next"
    assert handler.open_runs == 0  # the next call in the task finished the cancelled one

    chain_events = landed(2, session="inline-chain")
    assert {e["event_name"] for e in chain_events} == {"chain", "llm"}
    assert all(e["properties"]["error"]["type"] == "CancelledError" for e in chain_events)
    [bare] = landed(1, session="inline-bare")
    assert_cancelled(bare["properties"])
    [nxt] = landed(1, session="inline-next")
    assert nxt["properties"]["error"] is None


async def test_langgraph_cancelled_sibling_branch(handler: Any, landed: Any) -> None:
    from langgraph.graph import END, START, StateGraph

    model = ScriptedChatModel(delay=SLOW)

    class S(TypedDict):
        out: Annotated[list[str], operator.add]

    async def ask(state: S) -> dict[str, Any]:
        return {"out": [str((await model.ainvoke("hello")).content)]}

    async def fail(state: S) -> dict[str, Any]:
        await asyncio.sleep(0.3)
        raise RuntimeError("validation branch failed")

    graph = StateGraph(S)
    graph.add_node("ask", ask)
    graph.add_node("fail", fail)
    graph.add_edge(START, "ask")
    graph.add_edge(START, "fail")
    graph.add_edge("ask", END)
    graph.add_edge("fail", END)
    with pytest.raises(RuntimeError, match="validation branch failed"):
        await graph.compile().ainvoke(
            {"out": []}, {"callbacks": [handler], "configurable": {"thread_id": "par"}}
        )
    await asyncio.sleep(0.05)

    events = landed(2, session="par")
    by_name = {e["event_name"]: e["properties"] for e in events}
    assert sorted(by_name) == ["chain", "llm"]
    assert_cancelled(by_name["llm"])
    assert by_name["llm"]["trace_id"] == by_name["chain"]["run_id"]
    assert by_name["chain"]["error"]["type"] == "RuntimeError"
    assert_no_state(handler)


async def test_runs_that_end_are_recorded_once(handler: Any, landed: Any) -> None:
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | ScriptedChatModel()

    async def conversation(i: int) -> None:
        await chain.ainvoke({"q": f"a{i}"}, config(handler, "once"))
        async for _ in chain.astream({"q": f"s{i}"}, config(handler, "once")):
            pass
        async for _ in chain.astream({"q": f"x{i}"}, config(handler, "once")):
            break  # abandoned: closed later by the loop, not an error

    # Each in its own task, which ends (its done-callback runs) right after.
    await asyncio.gather(*(asyncio.create_task(conversation(i)) for i in range(5)))
    await asyncio.sleep(0.1)
    gc.collect()
    await asyncio.sleep(0.1)

    events = landed(30, session="once")  # exactly: 3 traces x (chain + llm) x 5
    assert all(e["properties"]["error"] is None for e in events), [
        (e["event_name"], e["properties"]["error"]) for e in events
    ]
    assert len({e["properties"]["run_id"] for e in events}) == 30
    assert_no_state(handler)


async def test_a_stream_cancelled_mid_read_is_recorded_once(handler: Any, landed: Any) -> None:
    # astream reports its own cancellation (on_llm_error); the done-callback must not add one.
    model = StallingChatModel(stall_after=1)

    async def read() -> None:
        async for _ in model.astream("hi", config(handler, "astream-cancel")):
            pass

    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(read(), 0.3)
    await asyncio.sleep(0.1)

    [event] = landed(1, session="astream-cancel")
    assert event["properties"]["error"]["type"] == "CancelledError"
    assert event["properties"]["output"]["content"] == "Hello"
    assert_no_state(handler)


def test_sync_runs_are_not_tracked(handler: Any, landed: Any) -> None:
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | ScriptedChatModel()
    chain.invoke({"q": "sync"}, config(handler, "sync"))
    landed(2, session="sync")
    assert_no_state(handler)


def test_evicted_runs_are_recorded_not_dropped(voker_client: Any, landed: Any) -> None:
    handler = VokerCallbackHandler(agent="a", client=voker_client)
    handler._runs = RunRegistry(max_open=3)
    manager = CallbackManager.configure(
        inheritable_callbacks=[handler], inheritable_metadata={"voker_session": "evict"}
    )
    # Five model calls whose end never comes: the two oldest make room for the newest.
    for i in range(5):
        manager.on_chat_model_start({}, [[HumanMessage(f"lost {i}")]])
    assert handler.open_runs == 3
    events = landed(2, session="evict")
    assert [e["properties"]["inputs"]["messages"][0]["content"] for e in events] == [
        "lost 0",
        "lost 1",
    ]
    assert all(e["properties"]["error"]["type"] == "RunEvicted" for e in events)

    # A run that then ends normally is still recorded (once), the cap notwithstanding.
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | ScriptedChatModel()
    chain.invoke({"q": "fine"}, config(handler, "after-evict"))
    after = landed(2, session="after-evict")
    assert all(e["properties"]["error"] is None for e in after)
