"""The real `openai` client against the fake server: Chat Completions, JSON and streaming."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest
from pydantic import BaseModel

from voker_core.testing.fake_llm import FakeLLMServer, ToolCall, Usage

QUESTION = "What is the capital of France?"
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": QUESTION},
]


class City(BaseModel):
    name: str
    population: int


@pytest.fixture
def client(fake_llm: FakeLLMServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key="test-key", base_url=fake_llm.openai_base_url, max_retries=0) as c:
        yield c


def test_create_echoes_last_user_message_with_deterministic_usage(
    client: openai.OpenAI, fake_llm: FakeLLMServer
) -> None:
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o-mini"
    assert completion.system_fingerprint
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == f"Echo: {QUESTION}"
    assert choice.message.refusal is None
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 3 + 6  # words of the system and user messages
    assert completion.usage.completion_tokens == 7  # words of the reply
    assert completion.usage.total_tokens == 16
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 0
    (request,) = fake_llm.requests
    assert (request.method, request.path, request.api) == (
        "POST",
        "/v1/chat/completions",
        "openai-chat-completions",
    )
    assert request.body["messages"] == MESSAGES
    assert request.header("authorization") == "Bearer test-key"
    assert request.stream is False
    assert request.reply is not None and request.reply.text == f"Echo: {QUESTION}"


def test_stream_without_include_usage_sends_no_usage_chunk(
    client: openai.OpenAI, fake_llm: FakeLLMServer
) -> None:
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))

    assert all(chunk.choices for chunk in chunks)
    assert all(chunk.usage is None for chunk in chunks)
    deltas = [chunk.choices[0].delta.content for chunk in chunks if chunk.choices[0].delta.content]
    assert len(deltas) >= 3  # really streamed in pieces
    assert "".join(deltas) == f"Echo: {QUESTION}"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert "stream_options" not in fake_llm.last_request.body
    assert fake_llm.last_request.stream is True


def test_stream_with_include_usage_ends_with_a_usage_only_chunk(
    client: openai.OpenAI, fake_llm: FakeLLMServer
) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    *content_chunks, usage_chunk = chunks
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert usage_chunk.usage.prompt_tokens == 9
    assert usage_chunk.usage.completion_tokens == 7
    assert all(chunk.usage is None and chunk.choices for chunk in content_chunks)
    assert fake_llm.last_request.body["stream_options"] == {"include_usage": True}


def test_tool_call_round_trip(client: openai.OpenAI, fake_llm: FakeLLMServer) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    fake_llm.queue_reply(tool_calls=[ToolCall("get_weather", {"city": "Paris"})])
    fake_llm.queue_reply(text="It is sunny in Paris.")

    first = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, tools=tools)
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert message.content is None
    assert message.tool_calls is not None
    (call,) = message.tool_calls
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert call.id.startswith("call_")

    second = client.chat.completions.create(
        model="gpt-4o",
        messages=[
            *MESSAGES,
            message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ],
        tools=tools,
    )
    assert second.choices[0].message.content == "It is sunny in Paris."
    sent = fake_llm.requests[1].body["messages"]
    assert sent[-1] == {"role": "tool", "tool_call_id": call.id, "content": "sunny"}
    assert sent[-2]["tool_calls"][0]["id"] == call.id
    assert fake_llm.requests[0].body["tools"] == tools


def test_streamed_tool_call_is_assembled_by_the_stream_helper(
    client: openai.OpenAI, fake_llm: FakeLLMServer
) -> None:
    arguments = {"city": "Paris", "unit": "celsius", "days": 3}
    fake_llm.queue_reply(tool_calls=[ToolCall("get_weather", arguments, id="call_abc")])

    with client.chat.completions.stream(model="gpt-4o", messages=MESSAGES) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_completion()

    assert "tool_calls.function.arguments.delta" in events
    (call,) = final.choices[0].message.tool_calls or []
    assert call.id == "call_abc"
    assert json.loads(call.function.arguments) == arguments
    assert final.choices[0].finish_reason == "tool_calls"


def test_parse_with_a_scripted_structured_reply(
    client: openai.OpenAI, fake_llm: FakeLLMServer
) -> None:
    fake_llm.queue_reply(structured={"name": "Paris", "population": 2_100_000})

    completion = client.chat.completions.parse(
        model="gpt-4o", messages=MESSAGES, response_format=City
    )

    assert completion.choices[0].message.parsed == City(name="Paris", population=2_100_000)
    response_format = fake_llm.last_request.body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "City"


def test_parse_without_script_synthesises_a_schema_valid_reply(client: openai.OpenAI) -> None:
    completion = client.chat.completions.parse(
        model="gpt-4o", messages=MESSAGES, response_format=City
    )

    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, City)
    assert parsed.name == f"Echo: {QUESTION}"


def test_stream_helper_returns_the_final_parsed_completion(
    client: openai.OpenAI, fake_llm: FakeLLMServer
) -> None:
    fake_llm.queue_reply(structured={"name": "Lyon", "population": 520_000})

    with client.chat.completions.stream(
        model="gpt-4o",
        messages=MESSAGES,
        response_format=City,
        stream_options={"include_usage": True},
    ) as stream:
        deltas = [event.delta for event in stream if event.type == "content.delta"]
        final = stream.get_final_completion()

    assert len(deltas) > 1
    assert final.choices[0].message.parsed == City(name="Lyon", population=520_000)
    assert final.usage is not None and final.usage.completion_tokens > 0


def test_usage_details_model_and_finish_reason_are_scriptable(
    client: openai.OpenAI, fake_llm: FakeLLMServer
) -> None:
    fake_llm.queue_reply(
        text="short",
        model="gpt-4o-2024-08-06",
        finish_reason="length",
        usage=Usage(input_tokens=40, cached_tokens=32, reasoning_tokens=5),
    )

    completion = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    usage = completion.usage
    assert usage is not None
    assert completion.model == "gpt-4o-2024-08-06"
    assert completion.choices[0].finish_reason == "length"
    assert usage.prompt_tokens == 40
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 32
    assert usage.completion_tokens == 1 + 5  # one word plus the reasoning tokens
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 5
    reply = fake_llm.last_request.reply
    assert reply is not None
    assert (reply.input_tokens, reply.output_tokens, reply.cached_tokens) == (40, 6, 32)


@pytest.mark.parametrize(
    ("status", "exception", "code"),
    [
        (400, openai.BadRequestError, None),
        (401, openai.AuthenticationError, "invalid_api_key"),
        (404, openai.NotFoundError, "model_not_found"),
        (429, openai.RateLimitError, "rate_limit_exceeded"),
        (500, openai.InternalServerError, None),
        (503, openai.InternalServerError, None),
    ],
)
def test_error_statuses_raise_the_sdk_exceptions(
    client: openai.OpenAI,
    fake_llm: FakeLLMServer,
    status: int,
    exception: type[openai.APIStatusError],
    code: str | None,
) -> None:
    fake_llm.queue_reply(error_status=status, error_message="scripted failure", retry_after=2)

    with pytest.raises(exception) as raised:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    assert raised.value.status_code == status
    assert raised.value.code == code
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["message"] == "scripted failure"
    assert raised.value.response.headers["retry-after"] == "2"
    assert len(fake_llm.requests) == 1  # max_retries=0: exactly one attempt
    assert fake_llm.last_request.status == status


def test_error_before_a_stream_raises_on_create(
    client: openai.OpenAI, fake_llm: FakeLLMServer
) -> None:
    fake_llm.queue_reply(error_status=500)

    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)


def test_delay_beyond_the_timeout_raises_api_timeout_error(fake_llm: FakeLLMServer) -> None:
    fake_llm.queue_reply(delay=5)
    with openai.OpenAI(
        api_key="k", base_url=fake_llm.openai_base_url, max_retries=0, timeout=0.3
    ) as client:
        with pytest.raises(openai.APITimeoutError):
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        # The connection is usable again for the next call.
        assert client.chat.completions.create(model="gpt-4o", messages=MESSAGES).choices
    # The client gave up on the first: on a busy machine its handler may read it last.
    assert len(fake_llm.wait_for_requests(2, timeout=5)) == 2


def test_connection_dropped_mid_stream_raises_connection_error(
    client: openai.OpenAI, fake_llm: FakeLLMServer
) -> None:
    fake_llm.queue_reply(disconnect_after=2)
    received = []

    with pytest.raises(openai.APIConnectionError):
        for chunk in client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True):
            received.append(chunk)

    assert len(received) == 2


async def test_async_client_create_and_stream(fake_llm: FakeLLMServer) -> None:
    async with openai.AsyncOpenAI(
        api_key="k", base_url=fake_llm.openai_base_url, max_retries=0
    ) as client:
        completion = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]

    assert completion.choices[0].message.content == f"Echo: {QUESTION}"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"Echo: {QUESTION}"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 16
    assert fake_llm.requests[0].header("x-stainless-async") is not None


def _azure(fake_llm: FakeLLMServer) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        api_key="k", azure_endpoint=fake_llm.azure_endpoint, api_version="2024-10-21", max_retries=0
    )


def test_azure_client_uses_the_deployment_path(fake_llm: FakeLLMServer) -> None:
    with _azure(fake_llm) as client:
        completion = client.chat.completions.create(model="my-deployment", messages=MESSAGES)

    assert completion.choices[0].message.content == f"Echo: {QUESTION}"
    request = fake_llm.last_request
    assert request.path == "/openai/deployments/my-deployment/chat/completions"
    assert request.query_value("api-version") == "2024-10-21"
    assert request.api == "openai-chat-completions"


def test_n_choices_give_choice_zero_the_reply_and_the_others_stop(
    client: openai.OpenAI, fake_llm: FakeLLMServer
) -> None:
    fake_llm.queue_reply(text="A B", finish_reason="length", times=2)
    completion = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, n=3)
    chunks = list(
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, n=3, stream=True)
    )

    assert [c.finish_reason for c in completion.choices] == ["length", "stop", "stop"]
    assert [c.message.content for c in completion.choices] == ["A B"] * 3
    finishes = [(c.choices[0].index, c.choices[0].finish_reason) for c in chunks]
    assert [f for f in finishes if f[1]] == [(0, "length"), (1, "stop"), (2, "stop")]
    for index in range(3):
        text = "".join(
            c.choices[0].delta.content or "" for c in chunks if c.choices[0].index == index
        )
        assert text == "A B"


def test_azure_streams_open_with_a_prompt_filter_chunk(fake_llm: FakeLLMServer) -> None:
    with _azure(fake_llm) as client:
        chunks = list(
            client.chat.completions.create(model="my-deployment", messages=MESSAGES, stream=True)
        )
        with openai.OpenAI(
            api_key="k", base_url=fake_llm.openai_base_url, max_retries=0
        ) as plain_client:
            plain = list(
                plain_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
            )

    first = chunks[0]
    assert (first.choices, first.id, first.model, first.created) == ([], "", "", 0)
    assert first.model_extra and first.model_extra["prompt_filter_results"]
    assert chunks[1].model == "my-deployment" and chunks[1].id
    assert plain[0].choices  # not on the plain OpenAI path
