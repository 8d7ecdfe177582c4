"""The real `openai` client against the fake server: the Responses API, JSON and streaming."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from voker_core.testing.fake_llm import FakeLLMServer, ToolCall, Usage

PROMPT = "Tell me a joke about pigeons"
EXPECTED = f"Echo: {PROMPT}"

TEXT_STREAM_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


class Joke(BaseModel):
    setup: str
    punchline: str


@pytest.fixture
def client(fake_llm: FakeLLMServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key="test-key", base_url=fake_llm.openai_base_url, max_retries=0) as c:
        yield c


def test_create_returns_a_completed_response(
    client: openai.OpenAI, fake_llm: FakeLLMServer
) -> None:
    response = client.responses.create(model="gpt-4.1", input=PROMPT, instructions="Be funny")

    assert response.object == "response"
    assert response.status == "completed"
    assert response.model == "gpt-4.1"
    assert response.output_text == EXPECTED
    (message,) = response.output
    assert message.type == "message"
    assert message.role == "assistant"
    assert response.usage is not None
    assert response.usage.input_tokens == 6 + 2  # input plus instructions
    assert response.usage.output_tokens == 7
    assert response.usage.total_tokens == 15
    assert response.usage.input_tokens_details.cached_tokens == 0
    assert response.usage.output_tokens_details.reasoning_tokens == 0
    request = fake_llm.last_request
    assert (request.path, request.api) == ("/v1/responses", "openai-responses")
    assert request.body["input"] == PROMPT
    assert request.body["instructions"] == "Be funny"


def test_input_items_echo_the_last_user_message(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="gpt-4.1",
        input=[
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": [{"type": "input_text", "text": PROMPT}]},
        ],
    )

    assert response.output_text == EXPECTED


def test_raw_stream_events_have_sequence_numbers_and_end_with_completed(
    client: openai.OpenAI, fake_llm: FakeLLMServer
) -> None:
    events = list(client.responses.create(model="gpt-4.1", input=PROMPT, stream=True))

    types = [event.type for event in events]
    assert [t for t in types if t != "response.output_text.delta"] == TEXT_STREAM_EVENTS
    assert types.count("response.output_text.delta") >= 3
    assert [event.sequence_number for event in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == EXPECTED
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == EXPECTED
    assert completed.response.usage is not None
    assert completed.response.usage.output_tokens == 7
    assert events[0].type == "response.created"
    assert events[0].response.status == "in_progress"
    assert fake_llm.last_request.stream is True


def test_stream_helper_returns_the_final_response(client: openai.OpenAI) -> None:
    with client.responses.stream(model="gpt-4.1", input=PROMPT) as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()

    assert text == EXPECTED
    assert final.output_text == EXPECTED
    assert final.usage is not None and final.usage.total_tokens == 13


def test_parse_with_text_format(client: openai.OpenAI, fake_llm: FakeLLMServer) -> None:
    fake_llm.queue_reply(structured={"setup": "Why?", "punchline": "Because."})

    response = client.responses.parse(model="gpt-4.1", input=PROMPT, text_format=Joke)

    assert response.output_parsed == Joke(setup="Why?", punchline="Because.")
    text_format = fake_llm.last_request.body["text"]["format"]
    assert text_format["type"] == "json_schema"
    assert text_format["name"] == "Joke"


def test_stream_helper_with_text_format_parses_the_final_response(client: openai.OpenAI) -> None:
    with client.responses.stream(model="gpt-4.1", input=PROMPT, text_format=Joke) as stream:
        final = stream.get_final_response()

    assert final.output_parsed == Joke(setup=EXPECTED, punchline=EXPECTED)


def test_function_call_output_item(client: openai.OpenAI, fake_llm: FakeLLMServer) -> None:
    fake_llm.queue_reply(tool_calls=[ToolCall("lookup", {"q": "pigeons"})])

    response = client.responses.create(
        model="gpt-4.1",
        input=PROMPT,
        tools=[{"type": "function", "name": "lookup", "parameters": {}, "strict": False}],
    )

    (item,) = response.output
    assert item.type == "function_call"
    assert item.name == "lookup"
    assert json.loads(item.arguments) == {"q": "pigeons"}
    assert item.call_id.startswith("call_")
    assert response.output_text == ""


def test_streamed_function_call_is_assembled(
    client: openai.OpenAI, fake_llm: FakeLLMServer
) -> None:
    arguments = {"q": "pigeons", "limit": 10, "safe": True}
    fake_llm.queue_reply(text="Looking it up.", tool_calls=[ToolCall("lookup", arguments)])

    with client.responses.stream(model="gpt-4.1", input=PROMPT) as stream:
        types = [event.type for event in stream]
        final = stream.get_final_response()

    assert "response.function_call_arguments.delta" in types
    assert "response.function_call_arguments.done" in types
    message, call = final.output
    assert message.type == "message" and final.output_text == "Looking it up."
    assert call.type == "function_call"
    assert json.loads(call.arguments) == arguments


def test_cached_and_reasoning_tokens(client: openai.OpenAI, fake_llm: FakeLLMServer) -> None:
    fake_llm.queue_reply(usage=Usage(input_tokens=100, cached_tokens=64, reasoning_tokens=12))

    response = client.responses.create(model="o4-mini", input=PROMPT)

    usage = response.usage
    assert usage is not None
    assert usage.input_tokens == 100
    assert usage.input_tokens_details.cached_tokens == 64
    assert usage.output_tokens == 7 + 12
    assert usage.output_tokens_details.reasoning_tokens == 12


def test_length_finish_marks_the_response_incomplete(
    client: openai.OpenAI, fake_llm: FakeLLMServer
) -> None:
    fake_llm.queue_reply(finish_reason="length")

    response = client.responses.create(model="gpt-4.1", input=PROMPT)

    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"


def test_server_error_raises_internal_server_error(
    client: openai.OpenAI, fake_llm: FakeLLMServer
) -> None:
    fake_llm.queue_reply(error_status=500)

    with pytest.raises(openai.InternalServerError) as raised:
        client.responses.create(model="gpt-4.1", input=PROMPT)

    assert raised.value.body is not None
    assert fake_llm.requests[0].status == 500


async def test_async_stream_helper(fake_llm: FakeLLMServer) -> None:
    async with openai.AsyncOpenAI(
        api_key="k", base_url=fake_llm.openai_base_url, max_retries=0
    ) as client:
        async with client.responses.stream(model="gpt-4.1", input=PROMPT) as stream:
            final = await stream.get_final_response()
        response = await client.responses.create(model="gpt-4.1", input=PROMPT)

    assert final.output_text == EXPECTED
    assert response.output_text == EXPECTED
    assert len(fake_llm.requests_for("openai-responses")) == 2


def test_a_tool_call_naming_a_custom_tool_is_a_custom_tool_call_item(
    fake_llm: FakeLLMServer,
) -> None:
    fake_llm.queue_reply(tool_calls=[ToolCall("run_sql", "SELECT 1")], times=2)
    with openai.OpenAI(api_key="k", base_url=fake_llm.openai_base_url, max_retries=0) as client:
        tools: Any = [{"type": "custom", "name": "run_sql"}]
        response = client.responses.create(model="gpt-5", input="q", tools=tools)
        with client.responses.stream(model="gpt-5", input="q", tools=tools) as stream:
            final = stream.get_final_response()

    for got in (response, final):
        (item,) = got.output
        assert item.type == "custom_tool_call"
        assert (item.name, item.input) == ("run_sql", "SELECT 1")
