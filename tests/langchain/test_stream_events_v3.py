"""``stream_events(version="v3")`` (langchain-core 1.8+): a model call streamed as protocol events.

LangChain reports such a call with ``on_stream_event`` instead of ``on_llm_new_token``, and an
async one is driven by a producer task of LangChain's own, whose ``on_llm_end`` may arrive after
the task that started the call has moved on or finished. The call is still recorded once, as a
streamed call with its first token, and never as cancelled when it was not.

LangChain reports a v3 call that stops before its message finished (a provider failing midway,
``aclose()`` or a timeout cancelling it) without the content it had streamed: the handler keeps
that from the protocol events, as v1 content blocks like a finished call's. Nor does it report a
sync stream that its reader drops unfinished: the handler records that one when the stream is
collected (at its next run), or at exit.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk

import voker_core
from tests.delivery.conftest import run_python
from tests.langchain.models import FailingMidStreamModel, ProviderError, ScriptedChatModel
from tests.langchain.test_cancellation import StallingChatModel

pytestmark = [
    pytest.mark.skipif(
        not hasattr(BaseCallbackHandler, "on_stream_event"),
        reason="stream_events(version='v3') is langchain-core 1.8+",
    ),
    pytest.mark.filterwarnings("ignore::langchain_core._api.beta_decorator.LangChainBetaWarning"),
]

TEXT_BLOCKS = [{"type": "text", "text": "echo: hi", "index": 0}]


def config(handler: Any, session: str) -> Any:
    return {"callbacks": [handler], "metadata": {"voker_session": session}}


def assert_streamed_call(props: dict[str, Any]) -> None:
    assert props["error"] is None
    assert props["stream"] is True
    assert props["output"] == {"role": "assistant", "content": TEXT_BLOCKS}
    assert props["inputs"]["messages"] == [{"role": "user", "content": "hi"}]
    assert props["usage"]["input_tokens"] == 20 and props["usage"]["output_tokens"] == 7
    assert 0 <= props["time_to_first_token_ms"] <= props["latency_ms"]


def test_sync_stream_events(handler: Any, landed: Any) -> None:
    stream = ScriptedChatModel().stream_events("hi", config(handler, "v3-sync"), version="v3")
    events = list(stream)

    assert events[0]["event"] == "message-start" and events[-1]["event"] == "message-finish"
    [event] = landed(1, session="v3-sync")
    assert event["event_name"] == "llm" and event["agent"] == "lc-agent"
    assert_streamed_call(event["properties"])
    assert handler.open_runs == 0


async def test_async_stream_events(handler: Any, landed: Any) -> None:
    stream = await ScriptedChatModel().astream_events("hi", config(handler, "v3"), version="v3")
    events = [e async for e in stream]
    await asyncio.sleep(0.05)  # LangChain's producer task sends the end after the last event

    assert events[-1]["event"] == "message-finish"
    [event] = landed(1, session="v3")
    assert_streamed_call(event["properties"])
    assert handler.open_runs == 0


async def test_the_starting_task_moving_on_is_not_a_cancellation(handler: Any, landed: Any) -> None:
    model = ScriptedChatModel()
    stream = await model.astream_events("hi", config(handler, "v3-first"), version="v3")
    async for _ in stream:
        pass
    # A new top-level run in the same task, before the producer task has ended the call.
    reply = await model.ainvoke("again", config(handler, "v3-next"))
    assert reply.content == "echo: again"
    await asyncio.sleep(0.05)

    [first] = landed(1, session="v3-first")
    assert_streamed_call(first["properties"])
    [nxt] = landed(1, session="v3-next")
    assert nxt["properties"]["error"] is None and nxt["properties"]["stream"] is False


async def test_the_starting_task_finishing_is_not_a_cancellation(handler: Any, landed: Any) -> None:
    async def read() -> list[Any]:
        stream = await ScriptedChatModel().astream_events(
            "hi", config(handler, "v3-task"), version="v3"
        )
        return [e async for e in stream]

    events = await asyncio.create_task(read())
    await asyncio.sleep(0.05)

    assert events
    [event] = landed(1, session="v3-task")
    assert_streamed_call(event["properties"])
    assert handler.open_runs == 0


class SlowFirstTokenModel(ScriptedChatModel):
    """Takes 0.2 s before its first token (a provider still thinking)."""

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        await asyncio.sleep(0.2)
        for chunk in self._stream(messages, stop=stop, **kwargs):
            yield chunk


async def test_a_stream_read_with_a_keep_alive_timeout_is_not_cancelled(
    handler: Any, landed: Any
) -> None:
    # A server-sent-events endpoint waits for each delta with a timeout and sends a ping when it
    # expires. The first, timed-out read started the call in a task that wait_for cancelled;
    # LangChain's producer task drives the call on, and reports its end.
    stream = await SlowFirstTokenModel().astream_events(
        "hi", config(handler, "v3-ping"), version="v3"
    )
    deltas = stream.text.__aiter__()
    text, pings = "", 0
    while True:
        try:
            text += await asyncio.wait_for(deltas.__anext__(), timeout=0.05)
        except asyncio.TimeoutError:
            pings += 1
        except StopAsyncIteration:
            break
    await asyncio.sleep(0.05)

    assert text == "echo: hi" and pings >= 2
    [event] = landed(1, session="v3-ping")
    assert_streamed_call(event["properties"])
    assert event["properties"]["latency_ms"] >= 200
    assert handler.open_runs == 0


def test_a_call_failing_midway_keeps_what_it_streamed(handler: Any, landed: Any) -> None:
    model = FailingMidStreamModel(
        chunks=[
            AIMessageChunk(content="Hello", response_metadata={"model_name": "scripted-1-0815"}),
            AIMessageChunk(content=" there"),
        ]
    )
    stream = model.stream_events("hi", config(handler, "v3-fail"), version="v3")
    seen = []
    with pytest.raises(ProviderError, match="upstream connection reset"):
        for event in stream:
            seen.append(event["event"])
    assert seen.count("content-block-delta") == 2

    [event] = landed(1, session="v3-fail")
    props = event["properties"]
    assert props["error"] == {
        "type": "ProviderError",
        "message": "upstream connection reset",
        "status_code": 502,
    }
    assert props["stream"] is True
    assert props["output"] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "Hello there", "index": 0}],
    }
    assert props["model"] == "scripted-1-0815"  # the one the first chunk reported
    assert props["usage"] is None  # reported when a message finishes
    assert 0 <= props["time_to_first_token_ms"] <= props["latency_ms"]
    assert handler.open_runs == 0


def test_a_tool_call_cut_off_midway_keeps_its_arguments_so_far(handler: Any, landed: Any) -> None:
    first = {"id": "call-1", "name": "lookup_order", "args": '{"order_', "index": 0}
    model = FailingMidStreamModel(
        chunks=[
            AIMessageChunk(content="", tool_call_chunks=[first]),
            AIMessageChunk(
                content="",
                tool_call_chunks=[{"id": None, "name": None, "args": 'id": 4', "index": 0}],
            ),
        ]
    )
    with pytest.raises(ProviderError):
        list(model.stream_events("hi", config(handler, "v3-tool"), version="v3"))

    [event] = landed(1, session="v3-tool")
    [block] = event["properties"]["output"]["content"]
    assert block["type"] == "tool_call_chunk"
    assert (block["id"], block["name"], block["args"]) == (
        "call-1",
        "lookup_order",
        '{"order_id": 4',
    )
    assert event["properties"]["error"]["status_code"] == 502


async def test_a_stream_closed_midway_keeps_what_it_streamed(handler: Any, landed: Any) -> None:
    # The provider sends two tokens, then stalls; the reader gives up after 0.3 s, and leaving
    # ``async with`` closes the stream, which cancels LangChain's producer task.
    model = StallingChatModel(stall_after=2)

    async def read() -> None:
        stream = await model.astream_events("hi", config(handler, "v3-closed"), version="v3")
        async with stream:
            async for _ in stream:
                pass

    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(read(), 0.3)
    await asyncio.sleep(0.05)

    [event] = landed(1, session="v3-closed")
    props = event["properties"]
    assert props["error"]["type"] == "CancelledError"
    assert props["stream"] is True
    # From the protocol events (v1 blocks), not from the model's own token callbacks.
    assert props["output"] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "Hello there", "index": 0}],
    }
    assert 0 <= props["time_to_first_token_ms"] <= props["latency_ms"]
    assert handler.open_runs == 0


def read_until_first_delta(handler: Any, session: str) -> list[str]:
    """Read a sync v3 stream up to its first content delta, then drop it (as a view whose client
    went away would): LangChain's pump is never pulled again, and reports no end."""
    stream = ScriptedChatModel().stream_events(
        "one two three", config(handler, session), version="v3"
    )
    seen = []
    for event in stream:
        seen.append(event["event"])
        if event["event"] == "content-block-delta":
            break
    return seen


def assert_dropped_call(props: dict[str, Any]) -> None:
    assert props["error"] is None  # a stream its reader stops reading has not failed
    assert props["stream"] is True
    assert props["output"] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "echo:", "index": 0}],
    }
    assert props["inputs"]["messages"] == [{"role": "user", "content": "one two three"}]
    assert 0 <= props["time_to_first_token_ms"] <= props["latency_ms"]


def test_a_sync_stream_dropped_unfinished_is_recorded_at_the_next_run(
    handler: Any, landed: Any, voker_server: Any
) -> None:
    assert read_until_first_delta(handler, "v3-dropped")[-1] == "content-block-delta"
    gc.collect()  # the stream and LangChain's pump refer to each other: a cycle
    # In another thread, as the next request of a threaded server would be.
    worker = threading.Thread(
        target=ScriptedChatModel().invoke, args=("next", config(handler, "v3-after"))
    )
    worker.start()
    worker.join()

    [event] = landed(1, session="v3-dropped")
    assert event["agent"] == "lc-agent"
    assert_dropped_call(event["properties"])
    landed(1, session="v3-after")
    assert handler.open_runs == 0


async def test_a_sync_stream_dropped_inside_a_coroutine_is_recorded(
    handler: Any, landed: Any
) -> None:
    # Sync code called from an async endpoint: its reader pulls the stream, as off a loop.
    assert read_until_first_delta(handler, "v3-dropped-async")[-1] == "content-block-delta"
    gc.collect()
    await ScriptedChatModel().ainvoke("next", config(handler, "v3-after-async"))

    [event] = landed(1, session="v3-dropped-async")
    assert_dropped_call(event["properties"])
    landed(1, session="v3-after-async")
    assert handler.open_runs == 0


def test_a_graph_call_is_recorded_whole_when_another_run_starts_before_its_end(
    handler: Any, landed: Any
) -> None:
    # LangGraph's stream_events(version="v3") has a node's model.invoke stream protocol events
    # into a stream of LangChain's that nobody reads, freed before LangChain reports the end.
    # A run starting in between (another request's thread) must not take it for a dropped one.
    from langgraph.graph import START, StateGraph

    from tests.langchain.test_langgraph import State

    class StartsAnotherRun(BaseCallbackHandler):
        run_inline = True  # called before ours, in order

        def on_llm_end(self, *args: Any, **kwargs: Any) -> None:
            other = threading.Thread(
                target=ScriptedChatModel().invoke, args=("meanwhile", config(handler, "v3-other"))
            )
            other.start()
            other.join()

    model = ScriptedChatModel()
    graph = StateGraph(State)
    graph.add_node("agent", lambda state: {"messages": [model.invoke(state["messages"])]})
    graph.add_edge(START, "agent")
    run = {"callbacks": [StartsAnotherRun(), handler], "configurable": {"thread_id": "v3-graph"}}
    for _ in graph.compile().stream_events({"messages": [("user", "hi")]}, run, version="v3"):
        pass

    events = landed(2, session="v3-graph")
    [call] = [e for e in events if e["event_name"] == "llm"]
    assert_streamed_call(call["properties"])  # its usage, as LangChain reported it at the end
    landed(1, session="v3-other")
    assert handler.open_runs == 0


def test_a_dropped_streams_lazy_person_is_never_resolved_on_an_event_loop(
    handler: Any, landed: Any
) -> None:
    on_a_loop: list[bool] = []

    def person() -> str:  # a lazy person, as a web request's user is (a query when read)
        try:
            asyncio.get_running_loop()
            on_a_loop.append(True)
        except RuntimeError:
            on_a_loop.append(False)
        return "user-7"

    with voker_core.context(session="v3-lazy", person=person):
        stream = ScriptedChatModel().stream_events(
            "one two three", {"callbacks": [handler]}, version="v3"
        )
        for event in stream:
            if event["event"] == "content-block-delta":
                break
        del stream
    gc.collect()
    # The next run, which records the dropped call, runs on an event loop.
    asyncio.run(ScriptedChatModel().ainvoke("next", config(handler, "v3-on-loop")))

    [event] = landed(1, session="v3-lazy")
    assert event["person"] == "user-7"
    assert_dropped_call(event["properties"])
    assert on_a_loop == [False]
    landed(1, session="v3-on-loop")


def test_a_sync_stream_read_again_later_is_recorded_once_whole(handler: Any, landed: Any) -> None:
    stream = ScriptedChatModel().stream_events("hi", config(handler, "v3-resumed"), version="v3")
    for event in stream:
        if event["event"] == "content-block-delta":
            break
    ScriptedChatModel().invoke("meanwhile", config(handler, "v3-meanwhile"))
    assert stream.output.text == "echo: hi"  # reads the rest
    del stream
    gc.collect()
    ScriptedChatModel().invoke("after", config(handler, "v3-meanwhile"))

    [event] = landed(1, session="v3-resumed")
    assert_streamed_call(event["properties"])
    landed(2, session="v3-meanwhile")
    assert handler.open_runs == 0


def test_streams_dropped_unfinished_are_recorded_at_exit(voker_server: Any) -> None:
    # One stream still referenced when the process exits, one collected with no run after it.
    result = run_python(
        """
        import gc, warnings
        warnings.filterwarnings("ignore")
        from tests.langchain.models import ScriptedChatModel
        from voker_langchain import VokerCallbackHandler

        handler = VokerCallbackHandler(agent="exit-agent")

        def first_delta(session):
            stream = ScriptedChatModel().stream_events(
                "one two three", {"callbacks": [handler], "metadata": {"voker_session": session}},
                version="v3",
            )
            for event in stream:
                if event["event"] == "content-block-delta":
                    return stream

        kept = first_delta("kept")
        first_delta("collected")
        gc.collect()  # queued: no run comes after it
        print("open", handler.open_runs, flush=True)
        """,
        env={"VOKER_API_KEY": "k", "VOKER_BASE_URL": voker_server.base_url},
    )
    assert result.returncode == 0, result.stderr
    assert "open 2" in result.stdout
    events = voker_server.wait_for_events(2)
    assert sorted(e["session"] for e in events) == ["collected", "kept"]
    for event in events:
        assert event["agent"] == "exit-agent"
        assert_dropped_call(event["properties"])
    assert "Traceback" not in result.stderr, result.stderr
