"""LangGraph graphs: thread_id as the session, nesting, tool nodes, interrupts."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

import langchain_core
import pytest
from langchain_core.messages import AnyMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import InjectedToolCallId, tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import Command, interrupt

from tests.langchain.models import ScriptedChatModel, reply


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


@tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"sunny in {city}"


@tool
def ask_human(question: str) -> str:
    """Ask the user and wait for the answer."""
    return str(interrupt(question))


def agent_graph(model: Any, tools: list[Any]) -> Any:
    bound = model.bind_tools(tools)

    def call_model(state: State) -> dict[str, Any]:
        return {"messages": [bound.invoke(state["messages"])]}

    async def acall_model(state: State) -> dict[str, Any]:
        return {"messages": [await bound.ainvoke(state["messages"])]}

    from langchain_core.runnables import RunnableLambda

    graph = StateGraph(State)
    graph.add_node("agent", RunnableLambda(call_model, afunc=acall_model))
    graph.add_node("tools", ToolNode(tools))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph.compile(checkpointer=InMemorySaver())


def weather_model() -> ScriptedChatModel:
    return ScriptedChatModel(
        replies=[
            reply("", tool_calls=[{"id": "w1", "name": "get_weather", "args": {"city": "Oslo"}}]),
            reply("It is sunny in Oslo."),
        ]
    )


def test_graph_run_uses_thread_id_as_session(handler: Any, landed: Any) -> None:
    graph = agent_graph(weather_model(), [get_weather])

    out = graph.invoke(
        {"messages": [HumanMessage("Weather in Oslo?")]},
        config={"callbacks": [handler], "configurable": {"thread_id": "thread-9"}},
    )

    assert out["messages"][-1].content == "It is sunny in Oslo."
    events = landed(4, session="thread-9")
    assert [e["event_name"] for e in events] == ["llm", "tool", "llm", "chain"]
    root = events[-1]["properties"]
    assert root["name"] == "LangGraph"
    assert root["parent_run_id"] is None
    assert root["outputs"]["messages"][-1] == {
        "role": "assistant",
        "content": "It is sunny in Oslo.",
    }
    assert {e["properties"]["trace_id"] for e in events} == {root["run_id"]}
    # Models and tools run inside graph nodes, which are not events: their parent is the
    # nearest run that is, the graph's.
    for event in events[:-1]:
        assert event["properties"]["parent_run_id"] == root["run_id"]
    assert events[1]["properties"]["output"] == "sunny in Oslo"
    assert all(e["agent"] == "lc-agent" for e in events)
    assert handler.open_runs == 0


async def test_graph_ainvoke_and_astream(handler: Any, landed: Any) -> None:
    graph = agent_graph(weather_model(), [get_weather])
    config: Any = {"callbacks": [handler], "configurable": {"thread_id": "thread-async"}}

    await graph.ainvoke({"messages": [HumanMessage("Weather?")]}, config=config)
    updates = [
        chunk
        async for chunk in graph.astream(
            {"messages": [HumanMessage("And now?")]}, config=config, stream_mode="updates"
        )
    ]

    assert updates
    events = landed(8, session="thread-async")
    assert [e["event_name"] for e in events] == ["llm", "tool", "llm", "chain"] * 2
    assert len({e["properties"]["trace_id"] for e in events}) == 2
    llms = [e for e in events if e["event_name"] == "llm"]
    assert all(e["properties"]["usage"]["total_tokens"] == 27 for e in llms)
    assert handler.open_runs == 0


def test_interrupt_is_not_an_error(handler: Any, landed: Any) -> None:
    model = ScriptedChatModel(
        replies=[
            reply(
                "",
                tool_calls=[{"id": "h1", "name": "ask_human", "args": {"question": "Which city?"}}],
            ),
            reply("Noted: Bergen."),
        ]
    )
    graph = agent_graph(model, [ask_human])
    config: Any = {"callbacks": [handler], "configurable": {"thread_id": "thread-hitl"}}

    paused = graph.invoke({"messages": [HumanMessage("Plan my trip")]}, config=config)
    assert "__interrupt__" in paused
    first = landed(3, session="thread-hitl")
    assert [e["event_name"] for e in first] == ["llm", "tool", "chain"]
    tool_event, root = first[1]["properties"], first[2]["properties"]
    assert tool_event["error"] is None and tool_event["interrupted"] is True
    assert root["error"] is None and root["interrupted"] is True
    assert root["interrupts"] == ["Which city?"]  # what the graph asked the human

    done = graph.invoke(Command(resume="Bergen"), config=config)
    assert done["messages"][-1].content == "Noted: Bergen."
    events = landed(6, session="thread-hitl")
    assert [e["event_name"] for e in events[3:]] == ["tool", "llm", "chain"]
    assert events[3]["properties"]["output"] == "Bergen"
    assert all(e["properties"]["error"] is None for e in events)
    assert "interrupted" not in events[-1]["properties"]
    assert "interrupts" not in events[-1]["properties"]
    assert handler.open_runs == 0


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(lambda graph: graph.with_retry(stop_after_attempt=2), id="with_retry"),
        pytest.param(
            lambda graph: graph.with_fallbacks([agent_graph(weather_model(), [get_weather])]),
            id="with_fallbacks",
            marks=pytest.mark.skipif(
                int(langchain_core.__version__.split(".")[0]) < 1,
                reason="langchain-core 0.x copies thread_id into every run's metadata, and "
                "reports the graph under with_fallbacks as a trace of its own",
            ),
        ),
        pytest.param(
            lambda graph: graph | RunnableLambda(lambda state: state["messages"][-1].content),
            id="piped",
        ),
    ],
)
def test_a_wrapped_graph_keeps_its_thread_as_the_session(
    wrap: Any, handler: Any, landed: Any
) -> None:
    """LangGraph sets ``thread_id`` in the metadata of its own runs only: here, one run below
    the top of the trace."""
    runnable = wrap(agent_graph(weather_model(), [get_weather]))

    runnable.invoke(
        {"messages": [HumanMessage("Weather in Oslo?")]},
        config={"callbacks": [handler], "configurable": {"thread_id": "thread-wrapped"}},
    )

    events = landed(4, session="thread-wrapped")
    assert [e["event_name"] for e in events] == ["llm", "tool", "llm", "chain"]
    assert len({e["properties"]["trace_id"] for e in events}) == 1


def test_a_trace_that_sent_events_before_meeting_a_thread_keeps_one_session(
    handler: Any, landed: Any
) -> None:
    first = ScriptedChatModel(replies=[reply("Oslo")])
    graph = agent_graph(weather_model(), [get_weather])
    chain = first | RunnableLambda(lambda msg: {"messages": [HumanMessage(msg.content)]}) | graph

    chain.invoke(
        "Which city?",
        config={"callbacks": [handler], "configurable": {"thread_id": "thread-late"}},
    )

    events = landed(5)
    assert [e["event_name"] for e in events] == ["llm", "llm", "tool", "llm", "chain"]
    # One trace, one session: not split at the graph. (It is the top run's id; langchain-core
    # 0.x copies thread_id into every run's metadata, so there it is the thread.)
    sessions = {e["session"] for e in events}
    assert sessions in ({events[-1]["properties"]["run_id"]}, {"thread-late"})


def test_a_tool_returning_a_command_records_its_message(handler: Any, landed: Any) -> None:
    @tool
    def set_city(city: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> Command[Any]:
        """Remember the user's city."""
        message = ToolMessage(f"city set to {city}", tool_call_id=tool_call_id)
        return Command(update={"messages": [message]})

    model = ScriptedChatModel(
        replies=[
            reply("", tool_calls=[{"id": "c1", "name": "set_city", "args": {"city": "Oslo"}}]),
            reply("Done."),
        ]
    )
    agent_graph(model, [set_city]).invoke(
        {"messages": [HumanMessage("I live in Oslo")]},
        config={"callbacks": [handler], "configurable": {"thread_id": "thread-command"}},
    )

    events = landed(4, session="thread-command")
    tool_event = events[1]["properties"]
    assert (tool_event["name"], tool_event["tool_call_id"]) == ("set_city", "c1")
    assert tool_event["output"] == "city set to Oslo"


def test_metadata_session_beats_thread_id(handler: Any, landed: Any) -> None:
    graph = agent_graph(weather_model(), [get_weather])
    graph.invoke(
        {"messages": [HumanMessage("Weather?")]},
        config={
            "callbacks": [handler],
            "configurable": {"thread_id": "thread-x"},
            "metadata": {"voker_session": "explicit-session"},
        },
    )
    assert len(landed(4, session="explicit-session")) == 4


async def test_graph_streaming_messages_records_streamed_usage(handler: Any, landed: Any) -> None:
    graph = agent_graph(weather_model(), [get_weather])
    tokens = [
        message.content
        async for message, _meta in graph.astream(
            {"messages": [HumanMessage("Weather in Oslo?")]},
            config={"callbacks": [handler], "configurable": {"thread_id": "thread-tokens"}},
            stream_mode="messages",
        )
        if message.type == "AIMessageChunk"
    ]

    assert "".join(str(t) for t in tokens) == "It is sunny in Oslo."
    llms = landed(4, session="thread-tokens")[0::2]
    assert [e["event_name"] for e in llms] == ["llm", "llm"]
    for event in llms:
        props = event["properties"]
        assert props["stream"] is True
        assert props["usage"]["total_tokens"] == 27
        # The first chunk counts whether it carries text or (first call) a tool call.
        assert 0 <= props["time_to_first_token_ms"] <= props["latency_ms"]
    assert llms[0]["properties"]["output"]["tool_calls"][0]["name"] == "get_weather"
