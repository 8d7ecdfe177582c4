"""``beta.messages.tool_runner``: the SDK's own loop, through our ``create``: one ``llm`` event
per request it makes, with the ``voker_*`` keywords given to the runner (or the context's)."""

from __future__ import annotations

from typing import Any

import pytest
from anthropic import beta_async_tool, beta_tool

import voker_core
from tests.anthropic.helpers import MESSAGES, MODEL, awrapped, llm_events, plain, wrapped
from voker_core.testing.fake_llm import Reply, ToolCall


@beta_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@beta_async_tool
async def aget_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def _queue_two_turns(fake_llm: Any) -> None:
    fake_llm.queue_reply(Reply(tool_calls=[ToolCall("get_weather", {"city": "Paris"})]))
    fake_llm.queue_reply(text="It is sunny.")


def _check(events: list[dict[str, Any]], session: str, agent: str) -> None:
    assert len(events) == 2
    assert {(e["session"], e["agent"]) for e in events} == {(session, agent)}
    assert [e["properties"]["finish_reason"] for e in events] == ["tool_calls", "stop"]
    assert [e["properties"]["api"] for e in events] == ["anthropic-beta-messages"] * 2
    for event in events:
        assert "x-voker-keywords" not in str(event["properties"]["inputs"])


def test_the_runner_records_each_turn_with_its_keywords(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    _queue_two_turns(fake_llm)
    client = wrapped(fake_llm, voker_client)
    runner = client.beta.messages.tool_runner(
        model=MODEL,
        max_tokens=100,
        messages=MESSAGES,
        tools=[get_weather],
        voker_agent="weather-bot",
        voker_session="conv-tools",
    )
    final = runner.until_done()
    assert final.content[0].text == "It is sunny."
    _check(llm_events(voker_client, voker_server), "conv-tools", "weather-bot")
    # The marker never reaches the provider.
    assert all("x-voker-keywords" not in r.headers for r in fake_llm.requests)


def test_the_runner_answers_as_the_sdks_own(fake_llm: Any, voker_client: Any) -> None:
    answers = []
    for client, extra in (
        (plain(fake_llm), {}),
        (wrapped(fake_llm, voker_client), {"voker_agent": "a", "voker_session": "s"}),
    ):
        _queue_two_turns(fake_llm)
        runner = client.beta.messages.tool_runner(
            model=MODEL, max_tokens=100, messages=MESSAGES, tools=[get_weather], **extra
        )
        answers.append([m.content[0].type for m in runner])
    assert answers[0] == answers[1] == ["tool_use", "text"]


def test_inside_a_context_the_runner_needs_no_keywords(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    _queue_two_turns(fake_llm)
    client = wrapped(fake_llm, voker_client)
    with voker_core.context(session="ctx-conv", agent="ctx-bot"):
        runner = client.beta.messages.tool_runner(
            model=MODEL, max_tokens=100, messages=MESSAGES, tools=[get_weather]
        )
        runner.until_done()
    _check(llm_events(voker_client, voker_server), "ctx-conv", "ctx-bot")


async def test_the_async_runner_records_each_turn(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(Reply(tool_calls=[ToolCall("aget_weather", {"city": "Paris"})]))
    fake_llm.queue_reply(text="It is sunny.")
    client = awrapped(fake_llm, voker_client)
    runner = client.beta.messages.tool_runner(
        model=MODEL,
        max_tokens=100,
        messages=MESSAGES,
        tools=[aget_weather],
        voker_agent="weather-bot",
        voker_session="conv-async",
    )
    final = await runner.until_done()
    assert final.content[0].text == "It is sunny."
    _check(llm_events(voker_client, voker_server), "conv-async", "weather-bot")


def test_a_wrong_keyword_fails_before_any_request(fake_llm: Any, voker_client: Any) -> None:
    client = wrapped(fake_llm, voker_client)
    runner = client.beta.messages.tool_runner(
        model=MODEL, max_tokens=100, messages=MESSAGES, tools=[get_weather], voker_session=7
    )
    with pytest.raises(TypeError, match="voker_session"):
        runner.until_done()
    assert fake_llm.requests == []
