"""``stream_events(version="v3")`` (langchain-core 1.8+): a model call streamed as protocol events.

LangChain reports such a call with ``on_stream_event`` instead of ``on_llm_new_token``, and an
async one is driven by a producer task of LangChain's own, whose ``on_llm_end`` may arrive after
the task that started the call has moved on or finished. The call is still recorded once, as a
streamed call with its first token, and never as cancelled when it was not.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler

from tests.langchain.models import ScriptedChatModel

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
