"""Step: the LangChain tool-calling agent of ``examples/langchain_agent`` answers two questions.

The agent (a scripted langchain-core chat model with ``bind_tools`` and two ``@tool`` functions)
runs with one ``VokerCallbackHandler``; its session and person come from the run's ``metadata``.
Each question gives a ``chain`` event, an ``llm`` event per model call and a ``tool`` event per
tool call.
"""

from __future__ import annotations

import uuid

from .runtime import Demo, StepResult

QUESTIONS = ("What's the weather in Oslo?", "And in Lisbon? What time is it there?")
PERSON = "demo-user"


def run(demo: Demo) -> StepResult:
    demo.out.step("LangChain: tool-calling agent", "VokerCallbackHandler (scripted chat model)")
    from langchain_core.messages import BaseMessage, SystemMessage
    from langchain_core.runnables import RunnableConfig

    from examples.langchain_agent.agent import agent
    from voker_langchain import VokerCallbackHandler

    session = f"weather-{uuid.uuid4().hex[:8]}"
    config: RunnableConfig = {
        "callbacks": [VokerCallbackHandler(agent="weather-bot")],
        "metadata": {"voker_session": session, "voker_person": PERSON},
    }
    history: list[BaseMessage] = [SystemMessage("You are a concise weather assistant.")]
    for question in QUESTIONS:
        answer = agent.invoke({"question": question, "history": history}, config=config)
        demo.out.detail("user", question)
        demo.out.detail("agent", str(answer))
    # Two turns: 4 model calls (2 asked for tools), 3 tool calls, 2 chain runs.
    return StepResult(
        "LangChain", agent="weather-bot", sessions={session}, expected_llm=4, person=PERSON
    )
