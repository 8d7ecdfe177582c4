"""Chains, tools and retrievers: event counts, nesting ids, errors."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig, RunnableLambda, RunnablePassthrough
from langchain_core.tools import tool

from tests.langchain.models import BrokenTool, KeywordRetriever, ScriptedChatModel, reply


@tool
def lookup_order(order_id: str) -> str:
    """Look an order up by id."""
    return f"order {order_id}: shipped"


def by_name(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        grouped.setdefault(event["event_name"], []).append(event)
    return grouped


def test_chain_gives_one_chain_event_and_nested_llm_event(handler: Any, landed: Any) -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{q}")])
    chain = prompt | ScriptedChatModel(replies=[reply("Paris.")])

    chain.invoke(
        {"q": "Capital of France?"},
        config={"callbacks": [handler], "metadata": {"voker_session": "s-chain"}},
    )

    events = by_name(landed(2, session="s-chain"))
    [chain_event], [llm] = events["chain"], events["llm"]
    c, m = chain_event["properties"], llm["properties"]
    assert c["name"] == "RunnableSequence"
    assert c["inputs"] == {"q": "Capital of France?"}
    assert c["outputs"] == {"role": "assistant", "content": "Paris."}
    assert c["error"] is None and c["latency_ms"] >= m["latency_ms"]
    assert c["parent_run_id"] is None and c["trace_id"] == c["run_id"]
    # The model ran inside the sequence: same trace, parent is the sequence's run.
    assert m["trace_id"] == c["run_id"] and m["parent_run_id"] == c["run_id"]
    assert m["inputs"]["messages"][1] == {"role": "user", "content": "Capital of France?"}
    assert handler.open_runs == 0


def test_parent_run_id_is_the_nearest_recorded_ancestor(handler: Any, landed: Any) -> None:
    # Inner chains (sequences, parallel steps, lambdas) are no events: each event's parent is
    # the nearest run above it that is one, so the events alone rebuild the tree.
    inner = ChatPromptTemplate.from_messages([("human", "{q}")]) | ScriptedChatModel()

    @tool
    def research(topic: str) -> str:
        """Research a topic."""
        return str(inner.invoke({"q": topic}).content)  # LangChain passes the tool's config on

    summary = ChatPromptTemplate.from_messages([("human", "sum up {topic}")]) | ScriptedChatModel()
    outer = RunnablePassthrough() | {
        "found": RunnableLambda(lambda x, config: research.invoke(x["topic"], config)),
        "summary": summary,
    }

    outer.invoke(
        {"topic": "tides"},
        config={"callbacks": [handler], "metadata": {"voker_session": "s-nest"}},
    )

    grouped = by_name(landed(4, session="s-nest"))
    [root], [tool_event] = grouped["chain"], grouped["tool"]
    llms = {e["properties"]["inputs"]["messages"][0]["content"]: e for e in grouped["llm"]}
    root_id = root["properties"]["run_id"]
    tool_id = tool_event["properties"]["run_id"]
    assert root["properties"]["parent_run_id"] is None
    assert tool_event["properties"]["parent_run_id"] == root_id
    assert llms["tides"]["properties"]["parent_run_id"] == tool_id  # inside the tool's chain
    assert llms["sum up tides"]["properties"]["parent_run_id"] == root_id
    events = [root, tool_event, *llms.values()]
    assert {e["properties"]["trace_id"] for e in events} == {root_id}
    assert handler.open_runs == 0


def test_a_handler_attached_below_the_top_makes_its_run_a_top(handler: Any, landed: Any) -> None:
    # LangChain names the sequence as the model's parent, but the handler never saw it: the
    # model's run is the top of a trace, and its event names no parent.
    model = ScriptedChatModel().with_config(
        callbacks=[handler], metadata={"voker_session": "s-below"}
    )
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | model

    assert chain.invoke({"q": "hi"}).content == "echo: hi"
    [event] = landed(1, session="s-below")
    assert event["properties"]["parent_run_id"] is None
    assert event["properties"]["trace_id"] == event["properties"]["run_id"]


def test_a_run_given_the_handler_inside_another_of_its_runs_nests_there(
    handler: Any, landed: Any
) -> None:
    @tool
    def ask(question: str) -> str:
        """Ask the model."""
        # The handler passed again: LangChain starts the model's run with no parent.
        return str(ScriptedChatModel().invoke(question, {"callbacks": [handler]}).content)

    chain = RunnableLambda(lambda q: f"{q}?") | ask
    assert chain.invoke("hi", config={"callbacks": [handler]}) == "echo: hi?"

    events = landed(3)  # no session: the top run's id, for all three
    grouped = by_name(events)
    [root], [tool_event], [llm] = grouped["chain"], grouped["tool"], grouped["llm"]
    root_id = root["properties"]["run_id"]
    assert llm["properties"]["parent_run_id"] == tool_event["properties"]["run_id"]
    assert {e["properties"]["trace_id"] for e in events} == {root_id}
    assert {e["session"] for e in events} == {root_id}


def fallback_chain() -> Any:
    primary = ScriptedChatModel(fail_status=503)
    return primary.with_fallbacks([ScriptedChatModel(replies=[reply("backup")])])


def assert_one_fallback_trace(events: list[dict[str, Any]]) -> None:
    """The models a ``with_fallbacks`` tried, nested under its run: one trace, one session.

    (LangChain hands each model the fallbacks' own config, not its child config: the handler
    finds the parent run in LangChain's context instead.)"""
    grouped = by_name(events)
    [root], llms = grouped["chain"], grouped["llm"]
    root_id = root["properties"]["run_id"]
    assert root["properties"]["name"] == "RunnableWithFallbacks"
    assert root["properties"]["error"] is None
    assert root["properties"]["parent_run_id"] is None
    assert [e["properties"]["error"] and e["properties"]["error"]["status_code"] for e in llms] == [
        503,
        None,
    ]
    assert llms[1]["properties"]["output"] == {"role": "assistant", "content": "backup"}
    for event in llms:
        assert event["properties"]["parent_run_id"] == root_id
    assert {e["properties"]["trace_id"] for e in events} == {root_id}
    assert len({e["session"] for e in events}) == 1


def test_with_fallbacks_keeps_its_models_in_its_trace(handler: Any, landed: Any) -> None:
    reply_ = fallback_chain().invoke("hi", config={"callbacks": [handler]})  # no session
    assert reply_.content == "backup"
    events = landed(3)
    assert_one_fallback_trace(events)
    assert events[0]["session"] == events[0]["properties"]["trace_id"]  # the top run's id
    assert handler.open_runs == 0


async def test_with_fallbacks_keeps_its_models_in_its_trace_async(
    handler: Any, landed: Any
) -> None:
    config: Any = {"callbacks": [handler], "metadata": {"voker_session": "s-fallbacks"}}
    assert (await fallback_chain().ainvoke("hi", config=config)).content == "backup"
    assert_one_fallback_trace(landed(3, session="s-fallbacks"))
    assert handler.open_runs == 0


def test_tool_calling_loop(handler: Any, landed: Any) -> None:
    model = ScriptedChatModel(
        replies=[
            reply(
                "",
                tool_calls=[{"id": "call_7", "name": "lookup_order", "args": {"order_id": "7"}}],
            ),
            reply("Order 7 has shipped."),
        ]
    ).bind_tools([lookup_order])
    tools = {"lookup_order": lookup_order}

    def agent(question: str, config: RunnableConfig) -> str:
        messages: list[BaseMessage] = [HumanMessage(question)]
        while True:
            answer = model.invoke(messages, config=config)
            messages.append(answer)
            if not isinstance(answer, AIMessage) or not answer.tool_calls:
                return str(answer.content)
            for call in answer.tool_calls:
                result = tools[call["name"]].invoke(call, config=config)
                messages.append(result)

    result = RunnableLambda(agent, name="support_agent").invoke(
        "Where is order 7?",
        config={"callbacks": [handler], "metadata": {"voker_session": "s-tools"}},
    )

    assert result == "Order 7 has shipped."
    events = landed(4, session="s-tools")
    assert [e["event_name"] for e in events] == ["llm", "tool", "llm", "chain"]
    grouped = by_name(events)
    [first, second], [tool_event], [root] = grouped["llm"], grouped["tool"], grouped["chain"]
    root_id = root["properties"]["run_id"]
    assert root["properties"]["name"] == "support_agent"
    assert root["properties"]["outputs"] == "Order 7 has shipped."
    for event in events:
        assert event["properties"]["trace_id"] == root_id
    for event in (first, tool_event, second):
        assert event["properties"]["parent_run_id"] == root_id

    assert first["properties"]["inputs"]["tools"][0]["function"]["name"] == "lookup_order"
    assert first["properties"]["output"]["tool_calls"] == [
        {"id": "call_7", "name": "lookup_order", "args": {"order_id": "7"}}
    ]
    t = tool_event["properties"]
    assert t["name"] == "lookup_order"
    assert t["input"] == {"order_id": "7"}
    assert t["output"] == "order 7: shipped"
    assert t["tool_call_id"] == "call_7"
    assert t["error"] is None and t["latency_ms"] >= 0
    # The second model call saw the tool round.
    assert second["properties"]["inputs"]["messages"][1:] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "call_7", "name": "lookup_order", "args": {"order_id": "7"}}],
        },
        {
            "role": "tool",
            "content": "order 7: shipped",
            "name": "lookup_order",
            "tool_call_id": "call_7",
        },
    ]
    assert second["properties"]["output"]["content"] == "Order 7 has shipped."
    assert handler.open_runs == 0


def test_failing_tool_gives_a_tool_event_with_error(handler: Any, landed: Any) -> None:
    broken = BrokenTool()
    with pytest.raises(Exception, match="order service down"):
        broken.invoke(
            {"order_id": "9"},
            config={"callbacks": [handler], "metadata": {"voker_session": "s-tool-err"}},
        )

    [event] = landed(1, session="s-tool-err")
    props = event["properties"]
    assert event["event_name"] == "tool"
    assert props["name"] == "lookup_order"
    assert props["error"] == {
        "type": "ProviderError",
        "message": "order service down for 9",
        "status_code": 502,
    }
    assert props["output"] is None
    assert props["input"] == {"order_id": "9"}
    assert handler.open_runs == 0


def test_tool_error_handled_by_the_tool_is_its_output(handler: Any, landed: Any) -> None:
    broken = BrokenTool(handle_tool_error=True)
    # handle_tool_error only covers ToolException; ours raises another error, so it propagates.
    with pytest.raises(Exception, match="order service down"):
        broken.invoke(
            {"order_id": "1"},
            config={"callbacks": [handler], "metadata": {"voker_session": "s-tool-err2"}},
        )
    [event] = landed(1, session="s-tool-err2")
    assert event["properties"]["error"]["type"] == "ProviderError"


def join_documents(docs: list[Document]) -> str:
    return " ".join(d.page_content for d in docs)


def test_retriever_event(handler: Any, landed: Any) -> None:
    retriever = KeywordRetriever(
        documents=[
            Document("refunds take five days", metadata={"source": "refunds.md", "page": 1}),
            Document("shipping is free", metadata={"source": "shipping.md", "page": 2}),
            Document("refunds need a receipt", metadata={"source": "refunds.md", "page": 3}),
        ]
    )
    model = ScriptedChatModel(replies=[reply("Five days, with a receipt.")])
    prompt = ChatPromptTemplate.from_messages([("human", "Context: {context}\n\n{question}")])
    chain = (
        {
            "context": retriever | RunnableLambda(join_documents),
            "question": RunnablePassthrough(),
        }
        | prompt
        | model
    )

    chain.invoke(
        "how long do refunds take",
        config={"callbacks": [handler], "metadata": {"voker_session": "s-rag"}},
    )

    grouped = by_name(landed(3, session="s-rag"))
    [retrieval], [llm], [root] = grouped["retriever"], grouped["llm"], grouped["chain"]
    r = retrieval["properties"]
    assert r["name"] == "KeywordRetriever"
    assert r["query"] == "how long do refunds take"
    assert r["document_count"] == 2
    assert r["documents"] == [
        {"source": "refunds.md", "page": 1},
        {"source": "refunds.md", "page": 3},
    ]
    assert r["error"] is None
    root_id = root["properties"]["run_id"]
    assert r["trace_id"] == root_id == llm["properties"]["trace_id"]
    # The retriever ran inside the parallel step, which is no event: its parent is the sequence.
    assert r["parent_run_id"] == root_id
    assert "refunds take five days" in llm["properties"]["inputs"]["messages"][0]["content"]
    assert handler.open_runs == 0


async def test_retriever_error_async(handler: Any, landed: Any) -> None:
    retriever = KeywordRetriever(documents=[])
    with pytest.raises(Exception, match="index unavailable"):
        await retriever.ainvoke(
            "explode", config={"callbacks": [handler], "metadata": {"voker_session": "s-r-err"}}
        )

    [event] = landed(1, session="s-r-err")
    assert event["event_name"] == "retriever"
    assert event["properties"]["error"]["status_code"] == 503
    assert event["properties"]["document_count"] is None


def test_error_in_a_chain_marks_the_llm_and_the_chain(handler: Any, landed: Any) -> None:
    prompt = ChatPromptTemplate.from_messages([("human", "{q}")])
    chain = prompt | ScriptedChatModel(fail_status=500)

    with pytest.raises(Exception, match="overloaded"):
        chain.invoke(
            {"q": "hi"},
            config={"callbacks": [handler], "metadata": {"voker_session": "s-chain-err"}},
        )

    grouped = by_name(landed(2, session="s-chain-err"))
    [llm], [root] = grouped["llm"], grouped["chain"]
    for event in (llm, root):
        assert event["properties"]["error"]["type"] == "ProviderError"
        assert event["properties"]["error"]["status_code"] == 500
    assert root["properties"]["outputs"] is None
    assert handler.open_runs == 0


def test_streamed_chain_records_its_input_and_usage(handler: Any, landed: Any) -> None:
    prompt = ChatPromptTemplate.from_messages([("human", "{q}")])
    chain = prompt | ScriptedChatModel(replies=[reply("streamed answer")])

    chunks = list(
        chain.stream(
            {"q": "stream please"},
            config={"callbacks": [handler], "metadata": {"voker_session": "s-chain-stream"}},
        )
    )

    assert "".join(str(c.content) for c in chunks) == "streamed answer"
    grouped = by_name(landed(2, session="s-chain-stream"))
    [llm], [root] = grouped["llm"], grouped["chain"]
    assert root["properties"]["inputs"] == {"q": "stream please"}
    assert llm["properties"]["stream"] is True
    assert llm["properties"]["usage"]["total_tokens"] == 27
    assert llm["properties"]["trace_id"] == root["properties"]["run_id"]


def test_tool_message_output(handler: Any, landed: Any) -> None:
    result = lookup_order.invoke(
        {"type": "tool_call", "id": "c1", "name": "lookup_order", "args": {"order_id": "3"}},
        config={"callbacks": [handler], "metadata": {"voker_session": "s-tm"}},
    )
    assert isinstance(result, ToolMessage)
    [event] = landed(1, session="s-tm")
    assert event["properties"]["output"] == "order 3: shipped"
    assert event["properties"]["tool_call_id"] == "c1"
