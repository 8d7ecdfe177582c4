"""One handler, many concurrent runs: sessions never mix, nesting stays consistent, state is
freed, memory stays flat."""

from __future__ import annotations

import asyncio
import gc
import threading
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManager
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnableParallel

import voker_core
from tests.langchain.models import ScriptedChatModel
from voker_core import VokerClient
from voker_langchain import VokerCallbackHandler
from voker_langchain._runs import Run, Trace


def echo_chain(delay: float = 0.0) -> Any:
    prompt = ChatPromptTemplate.from_messages([("human", "{q}")])
    return prompt | ScriptedChatModel(delay=delay)  # replies "echo: <question>"


def assert_session_is_one_clean_trace(events: list[dict[str, Any]], marker: str) -> None:
    """The events of one session: an llm inside a chain, all about ``marker``."""
    assert sorted(e["event_name"] for e in events) == ["chain", "llm"]
    by_name = {e["event_name"]: e["properties"] for e in events}
    chain, llm = by_name["chain"], by_name["llm"]
    assert chain["inputs"] == {"q": marker}
    assert llm["inputs"]["messages"] == [{"role": "user", "content": marker}]
    assert llm["output"]["content"] == f"echo: {marker}"
    assert llm["trace_id"] == llm["parent_run_id"] == chain["run_id"] == chain["trace_id"]


async def test_abatch_with_a_session_per_input(
    handler: Any, landed: Any, voker_server: Any
) -> None:
    n = 12
    configs: Any = [
        {"callbacks": [handler], "metadata": {"voker_session": f"ab-{i}"}} for i in range(n)
    ]
    results = await echo_chain(delay=0.01).abatch([{"q": f"q-{i}"} for i in range(n)], configs)

    assert [r.content for r in results] == [f"echo: q-{i}" for i in range(n)]
    landed(2 * n)
    for i in range(n):
        assert_session_is_one_clean_trace(voker_server.events(session=f"ab-{i}"), f"q-{i}")
    assert handler.open_runs == 0


def test_batch_in_threads_with_a_session_per_input(
    handler: Any, landed: Any, voker_server: Any
) -> None:
    n = 12
    configs: Any = [
        {"callbacks": [handler], "metadata": {"voker_session": f"b-{i}"}, "max_concurrency": 6}
        for i in range(n)
    ]
    echo_chain(delay=0.01).batch([{"q": f"q-{i}"} for i in range(n)], configs)

    landed(2 * n)
    for i in range(n):
        assert_session_is_one_clean_trace(voker_server.events(session=f"b-{i}"), f"q-{i}")
    assert handler.open_runs == 0


async def test_parallel_ainvoke_and_astream_in_their_own_contexts(
    handler: Any, landed: Any, voker_server: Any
) -> None:
    chain = echo_chain(delay=0.01)

    async def conversation(i: int) -> None:
        async with voker_core.context(session=f"task-{i}", person=f"user-{i}"):
            if i % 2:
                await chain.ainvoke({"q": f"m-{i}"}, config={"callbacks": [handler]})
            else:
                async for _ in chain.astream({"q": f"m-{i}"}, config={"callbacks": [handler]}):
                    await asyncio.sleep(0)

    await asyncio.gather(*(conversation(i) for i in range(10)))

    landed(20)
    for i in range(10):
        events = voker_server.events(session=f"task-{i}")
        assert_session_is_one_clean_trace(events, f"m-{i}")
        assert {e["person"] for e in events} == {f"user-{i}"}
    assert handler.open_runs == 0


def test_one_handler_shared_by_threads(handler: Any, landed: Any, voker_server: Any) -> None:
    chain = echo_chain()
    threads, per_thread = 8, 10
    barrier = threading.Barrier(threads)

    def worker(t: int) -> None:
        barrier.wait()
        for k in range(per_thread):
            with voker_core.context(session=f"th-{t}-{k}"):
                if k % 2:
                    chain.invoke({"q": f"t{t}k{k}"}, config={"callbacks": [handler]})
                else:
                    for _ in chain.stream({"q": f"t{t}k{k}"}, config={"callbacks": [handler]}):
                        pass

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, range(threads)))

    landed(2 * threads * per_thread)
    for t in range(threads):
        for k in range(per_thread):
            events = voker_server.events(session=f"th-{t}-{k}")
            assert_session_is_one_clean_trace(events, f"t{t}k{k}")
    assert handler.open_runs == 0


def live_handler_state() -> int:
    """Run and Trace objects still alive anywhere in the process."""
    gc.collect()
    return sum(isinstance(obj, (Run, Trace)) for obj in gc.get_objects())


def test_memory_is_flat_over_10000_runs(voker_server: Any) -> None:
    # Delivery disabled: this measures the handler's own state, not the client's queue. The
    # runs go through LangChain's own CallbackManager, as every Runnable's do, without the
    # Runnables' overhead: 2,000 traces of 5 runs (chain > model, tool, retriever).
    with VokerClient(api_key="k", base_url=voker_server.base_url, enabled=False) as client:
        handler = VokerCallbackHandler(agent="a", client=client)
        manager = CallbackManager.configure(
            inheritable_callbacks=[handler], inheritable_metadata={"voker_session": "mem"}
        )
        usage: Any = {"input_tokens": 3, "output_tokens": 1, "total_tokens": 4}

        def run(traces: int) -> None:
            for i in range(traces):
                root = manager.on_chain_start(None, {"q": i}, name="agent")
                child = root.get_child()
                [llm] = child.on_chat_model_start({}, [[HumanMessage(f"q{i}")]])
                llm.on_llm_new_token("a")
                llm.on_llm_end(
                    LLMResult(
                        generations=[[ChatGeneration(message=AIMessage("a", usage_metadata=usage))]]
                    )
                )
                tool = child.on_tool_start({"name": "t"}, "x", inputs={"x": i})
                tool.on_tool_end("out")
                retriever = child.on_retriever_start({"name": "r"}, "q")
                retriever.on_retriever_end([])
                root.on_chain_end({"a": i})

        run(200)  # warm caches up
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            run(2_000)
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()

    assert handler.open_runs == 0
    assert live_handler_state() == 0
    # Keeping even one small object per run would add over 1 MiB here.
    assert after - before < 128 * 1024, f"grew by {after - before} bytes"


def test_real_runs_leave_no_state(handler: Any, landed: Any) -> None:
    chain = echo_chain()
    for i in range(50):
        chain.invoke(
            {"q": f"q{i}"},
            config={"callbacks": [handler], "metadata": {"voker_session": "no-state"}},
        )
        for _ in chain.stream(
            {"q": f"s{i}"},
            config={"callbacks": [handler], "metadata": {"voker_session": "no-state"}},
        ):
            break  # abandoned streams too
    landed(200, session="no-state")
    assert handler.open_runs == 0
    assert live_handler_state() == 0


async def test_branch_ending_after_its_failed_parent_is_still_recorded(
    handler: Any, landed: Any, voker_server: Any
) -> None:
    slow = ChatPromptTemplate.from_messages([("human", "{q}")]) | ScriptedChatModel(delay=0.2)

    async def fail(_: Any) -> None:
        raise ValueError("branch failed")

    parallel = RunnableParallel(slow=slow, fail=RunnableLambda(fail))
    with pytest.raises(ValueError, match="branch failed"):
        await parallel.ainvoke(
            {"q": "late"}, config={"callbacks": [handler], "metadata": {"voker_session": "late"}}
        )

    # asyncio.gather left the slow branch running; its events arrive after the root's.
    await asyncio.sleep(0.5)
    events = landed(2, session="late")
    assert [e["event_name"] for e in events] == ["chain", "llm"]
    root, llm = events[0]["properties"], events[1]["properties"]
    assert root["error"]["message"] == "branch failed"
    assert llm["error"] is None and llm["trace_id"] == root["run_id"]
    assert handler.open_runs == 0
