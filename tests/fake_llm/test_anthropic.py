"""The real `anthropic` client against the fake server: Messages (and beta), JSON and streaming."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest
from pydantic import BaseModel

from voker_core.testing.fake_llm import FakeLLMServer, ToolCall, Usage

QUESTION = "Summarise the meeting notes please"
EXPECTED = f"Echo: {QUESTION}"
MESSAGES = [{"role": "user", "content": QUESTION}]
SYSTEM = "You are a helpful assistant."


class Summary(BaseModel):
    title: str
    bullet_points: list[str]


@pytest.fixture
def client(fake_llm: FakeLLMServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        api_key="test-key", base_url=fake_llm.anthropic_base_url, max_retries=0
    ) as c:
        yield c


def create(client: anthropic.Anthropic, **extra: object) -> anthropic.types.Message:
    return client.messages.create(
        model="claude-sonnet-5", max_tokens=256, messages=MESSAGES, system=SYSTEM, **extra
    )


def test_create_returns_a_message(client: anthropic.Anthropic, fake_llm: FakeLLMServer) -> None:
    message = create(client)

    assert message.type == "message"
    assert message.role == "assistant"
    assert message.model == "claude-sonnet-5"
    assert message.stop_reason == "end_turn"
    (block,) = message.content
    assert block.type == "text" and block.text == EXPECTED
    assert message.usage.input_tokens == 5 + 5  # system prompt plus the user message
    assert message.usage.output_tokens == 6
    assert message.usage.cache_read_input_tokens == 0
    assert message.usage.cache_creation_input_tokens == 0
    request = fake_llm.last_request
    assert (request.path, request.api) == ("/v1/messages", "anthropic-messages")
    assert request.body["system"] == SYSTEM
    assert request.body["max_tokens"] == 256
    assert request.header("anthropic-version")


def test_raw_stream_events(client: anthropic.Anthropic, fake_llm: FakeLLMServer) -> None:
    fake_llm.queue_reply(usage=Usage(input_tokens=30, cached_tokens=20, cache_creation_tokens=4))

    events = list(create(client, stream=True))

    types = [event.type for event in events]
    assert types[:2] == ["message_start", "content_block_start"]
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    deltas = [e.delta.text for e in events if e.type == "content_block_delta"]
    assert len(deltas) >= 3 and "".join(deltas) == EXPECTED
    start = events[0].message.usage
    assert (start.input_tokens, start.cache_read_input_tokens) == (6, 20)
    assert start.cache_creation_input_tokens == 4
    message_delta = events[-2]
    assert message_delta.delta.stop_reason == "end_turn"
    assert message_delta.usage.output_tokens == 6
    raw = fake_llm.last_request
    assert raw.stream is True and raw.body["stream"] is True


def test_stream_helper_text_stream_and_final_message(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model="claude-sonnet-5", max_tokens=256, messages=MESSAGES, system=SYSTEM
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert text == EXPECTED
    assert final.content[0].type == "text" and final.content[0].text == EXPECTED
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (10, 6)


def test_tool_use_round_trip(client: anthropic.Anthropic, fake_llm: FakeLLMServer) -> None:
    tools = [{"name": "search", "input_schema": {"type": "object"}}]
    fake_llm.queue_reply(text="Let me search.", tool_calls=[ToolCall("search", {"q": "notes"})])
    fake_llm.queue_reply(text="Found them.")

    first = create(client, tools=tools)
    assert first.stop_reason == "tool_use"
    text_block, tool_block = first.content
    assert text_block.type == "text" and text_block.text == "Let me search."
    assert tool_block.type == "tool_use"
    assert (tool_block.name, tool_block.input) == ("search", {"q": "notes"})
    assert tool_block.id.startswith("toolu_")

    second = client.messages.create(
        model="claude-sonnet-5",
        max_tokens=256,
        tools=tools,
        messages=[
            *MESSAGES,
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": tool_block.id, "content": "3 notes"}
                ],
            },
        ],
    )
    assert second.content[0].type == "text" and second.content[0].text == "Found them."
    sent = fake_llm.requests[1].body["messages"]
    assert sent[-1]["content"][0]["tool_use_id"] == tool_block.id


def test_streamed_tool_use_input_is_assembled(
    client: anthropic.Anthropic, fake_llm: FakeLLMServer
) -> None:
    arguments = {"q": "quarterly notes", "limit": 5, "filters": {"team": "sales"}}
    fake_llm.queue_reply(tool_calls=[ToolCall("search", arguments, id="toolu_123")])

    with client.messages.stream(
        model="claude-sonnet-5", max_tokens=256, messages=MESSAGES
    ) as stream:
        final = stream.get_final_message()

    (block,) = final.content
    assert block.type == "tool_use"
    assert (block.id, block.name, block.input) == ("toolu_123", "search", arguments)
    assert final.stop_reason == "tool_use"


def test_cache_tokens_use_anthropics_convention(
    client: anthropic.Anthropic, fake_llm: FakeLLMServer
) -> None:
    fake_llm.queue_reply(usage=Usage(input_tokens=50, cached_tokens=30, cache_creation_tokens=15))

    usage = create(client).usage

    # Anthropic's input_tokens excludes cache reads and writes.
    assert (usage.input_tokens, usage.cache_read_input_tokens) == (5, 30)
    assert usage.cache_creation_input_tokens == 15
    reply = fake_llm.last_request.reply
    assert reply is not None and reply.input_tokens == 50 and reply.uncached_input_tokens == 5


def test_beta_messages_create_and_stream(
    client: anthropic.Anthropic, fake_llm: FakeLLMServer
) -> None:
    message = client.beta.messages.create(
        model="claude-sonnet-5",
        max_tokens=64,
        messages=MESSAGES,
        betas=["context-management-2025-06-27"],
    )
    with client.beta.messages.stream(
        model="claude-sonnet-5", max_tokens=64, messages=MESSAGES
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert message.content[0].type == "text" and message.content[0].text == EXPECTED
    assert text == EXPECTED and final.usage.output_tokens == 6
    first, second = fake_llm.requests
    assert first.path == second.path == "/v1/messages"
    assert first.header("anthropic-beta") == "context-management-2025-06-27"
    assert second.stream is True


def test_parse_with_output_format(client: anthropic.Anthropic, fake_llm: FakeLLMServer) -> None:
    fake_llm.queue_reply(structured={"title": "Sync", "bullet_points": ["a", "b"]})

    parsed = client.messages.parse(
        model="claude-sonnet-5", max_tokens=256, messages=MESSAGES, output_format=Summary
    )

    assert parsed.parsed_output == Summary(title="Sync", bullet_points=["a", "b"])
    assert fake_llm.last_request.body["output_config"]["format"]["type"] == "json_schema"


def test_parse_without_script_synthesises_a_valid_value(client: anthropic.Anthropic) -> None:
    parsed = client.messages.parse(
        model="claude-sonnet-5", max_tokens=256, messages=MESSAGES, output_format=Summary
    )

    assert parsed.parsed_output == Summary(title=EXPECTED, bullet_points=[EXPECTED])


@pytest.mark.parametrize(
    ("status", "exception", "error_type"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_error_statuses_raise_the_sdk_exceptions(
    client: anthropic.Anthropic,
    fake_llm: FakeLLMServer,
    status: int,
    exception: type[anthropic.APIStatusError],
    error_type: str,
) -> None:
    fake_llm.queue_reply(error_status=status, error_message="scripted", retry_after=1)

    with pytest.raises(exception) as raised:
        create(client)

    assert isinstance(raised.value, anthropic.APIStatusError)
    assert raised.value.status_code == status
    body = raised.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert body["error"] == {"type": error_type, "message": "scripted"}
    assert str(raised.value.request_id).startswith("req_fake")
    assert len(fake_llm.requests) == 1


def test_delay_beyond_the_timeout_raises_api_timeout_error(fake_llm: FakeLLMServer) -> None:
    fake_llm.queue_reply(delay=5)
    with anthropic.Anthropic(
        api_key="k", base_url=fake_llm.anthropic_base_url, max_retries=0, timeout=0.3
    ) as client:
        with pytest.raises(anthropic.APITimeoutError):
            create(client)
    # The client gave up first: on a busy machine the handler may read the request later.
    assert len(fake_llm.wait_for_requests(1, timeout=5)) == 1


async def test_async_create_and_stream(fake_llm: FakeLLMServer) -> None:
    async with anthropic.AsyncAnthropic(
        api_key="k", base_url=fake_llm.anthropic_base_url, max_retries=0
    ) as client:
        message = await client.messages.create(
            model="claude-haiku-4-5", max_tokens=64, messages=MESSAGES
        )
        async with client.messages.stream(
            model="claude-haiku-4-5", max_tokens=64, messages=MESSAGES
        ) as stream:
            text = "".join([chunk async for chunk in stream.text_stream])
            final = await stream.get_final_message()

    assert message.content[0].type == "text" and message.content[0].text == EXPECTED
    assert text == EXPECTED
    assert final.model == "claude-haiku-4-5"
    assert len(fake_llm.requests_for("anthropic-messages")) == 2
