"""A tool-calling LangChain agent recorded by Voker: ``python examples/langchain_agent/agent.py``.

No network and no provider key: the chat model is a scripted langchain-core fake that asks for
tools the way a real model does. Everything else is ordinary LangChain — ``bind_tools``,
``@tool``, a runnable, callbacks — plus one line of Voker::

    config = {"callbacks": [VokerCallbackHandler(agent="weather-bot")],
              "metadata": {"voker_session": conversation_id, "voker_person": user_id}}

Events go to ``VOKER_BASE_URL`` with ``VOKER_API_KEY`` (e.g. a ``voker-devserver`` you started:
open its URL to see the conversation). Without ``VOKER_BASE_URL`` the script starts a temporary
local devserver itself and prints what was recorded. It exits non-zero if events are missing
(only checked against its own devserver).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_openai_tool

import voker_core
from voker_langchain import VokerCallbackHandler

# -- the application: tools, a model, an agent loop -----------------------------------------------


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return {"oslo": "light rain, 9°C", "lisbon": "sunny, 24°C"}.get(city.lower(), "unknown")


@tool
def get_local_time(city: str) -> str:
    """Local time in a city."""
    return {"oslo": "14:05", "lisbon": "13:05"}.get(city.lower(), "unknown")


TOOLS = {t.name: t for t in (get_weather, get_local_time)}


class ScriptedToolModel(GenericFakeChatModel):
    """langchain-core's fake chat model, able to ``bind_tools`` like a provider model."""

    def bind_tools(
        self, tools: Sequence[Any], **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)


def _usage(inp: int, out: int) -> Any:
    return {"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out}


def _call(name: str, city: str, call_id: str) -> dict[str, Any]:
    return {"id": call_id, "name": name, "args": {"city": city}}


SCRIPT = [
    # Turn 1: weather in Oslo -> one tool call, then the answer.
    AIMessage(
        "", tool_calls=[_call("get_weather", "Oslo", "call_1")], usage_metadata=_usage(52, 14)
    ),
    AIMessage("Light rain and 9°C in Oslo: take an umbrella.", usage_metadata=_usage(88, 12)),
    # Turn 2: compare with Lisbon -> two tool calls in one step, then the answer.
    AIMessage(
        "",
        tool_calls=[
            _call("get_weather", "Lisbon", "call_2"),
            _call("get_local_time", "Lisbon", "call_3"),
        ],
        usage_metadata=_usage(120, 30),
    ),
    AIMessage("Lisbon is sunny at 24°C, and it is 13:05 there.", usage_metadata=_usage(170, 15)),
]

model = ScriptedToolModel(messages=iter(SCRIPT)).bind_tools(list(TOOLS.values()))


def agent_turn(inputs: dict[str, Any], config: RunnableConfig) -> str:
    """One user turn: call the model until it stops asking for tools."""
    history: list[BaseMessage] = inputs["history"]
    history.append(HumanMessage(inputs["question"]))
    while True:
        reply = model.invoke(history, config=config)  # the config carries the callbacks
        history.append(reply)
        if not isinstance(reply, AIMessage) or not reply.tool_calls:
            return str(reply.content)
        for call in reply.tool_calls:
            history.append(TOOLS[call["name"]].invoke(call, config=config))


agent = RunnableLambda(agent_turn, name="weather_agent")


# -- running it with Voker -----------------------------------------------------------------------


def main() -> int:
    own_server = None
    if not os.environ.get("VOKER_BASE_URL"):
        from voker_core.devserver import DevServer

        own_server = DevServer().start()
        os.environ["VOKER_BASE_URL"] = own_server.base_url
        os.environ.setdefault("VOKER_API_KEY", "demo-key")
    client = voker_core.configure()  # from VOKER_BASE_URL / VOKER_API_KEY
    try:
        handler = VokerCallbackHandler(agent="weather-bot")
        session = f"langchain-demo-{uuid.uuid4().hex[:8]}"
        config: RunnableConfig = {
            "callbacks": [handler],
            "metadata": {"voker_session": session, "voker_person": "demo-user"},
        }
        history: list[BaseMessage] = [SystemMessage("You are a concise weather assistant.")]
        for question in ("What's the weather in Oslo?", "And in Lisbon? What time is it there?"):
            answer = agent.invoke({"question": question, "history": history}, config=config)
            print(f"user:  {question}\nagent: {answer}")
        delivered = client.flush(10)
        print(f"\nVoker session {session!r} at {os.environ['VOKER_BASE_URL']}")
        if own_server is None:
            return 0 if delivered else 1
        events = own_server.events(session=session)
        for event in events:
            props = event["properties"]
            if event["event_name"] == "llm":
                usage = props["usage"]
                detail = f"{usage['input_tokens']} tokens in, {usage['output_tokens']} out"
            elif event["event_name"] == "tool":
                detail = f"{props['input']} -> {props['output']!r}"
            else:
                detail = f"{props['latency_ms']:.1f} ms"
            print(f"  {event['event_name']:<6} {props['name']:<18} {detail}")
        names = [e["event_name"] for e in events]
        expected = {"llm": 4, "tool": 3, "chain": 2}
        ok = all(names.count(kind) == count for kind, count in expected.items())
        print("all events recorded" if ok else f"missing events: got {names}")
        return 0 if ok else 1
    finally:
        client.close()
        if own_server is not None:
            own_server.close()


if __name__ == "__main__":
    sys.exit(main())
