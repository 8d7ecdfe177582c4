"""The real `google-genai` client against the fake server: Gemini API and Vertex AI shapes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
from google import genai
from google.genai import errors, types
from google.oauth2.credentials import Credentials
from pydantic import BaseModel

from voker_core.testing.fake_llm import FakeLLMServer, ToolCall, Usage

MODEL = "gemini-2.5-flash"
PROMPT = "Name three colours of the rainbow"
EXPECTED = f"Echo: {PROMPT}"


class Colours(BaseModel):
    colours: list[str]


def make_client(server: FakeLLMServer, **http_options: object) -> genai.Client:
    options = types.HttpOptions(base_url=server.gemini_base_url, **http_options)  # type: ignore[arg-type]
    return genai.Client(api_key="test-key", http_options=options)


@pytest.fixture
def client(fake_llm: FakeLLMServer) -> Iterator[genai.Client]:
    # Keep the client referenced while its responses are used: a dropped client closes them.
    gemini = make_client(fake_llm)
    yield gemini
    gemini.close()


def test_generate_content(client: genai.Client, fake_llm: FakeLLMServer) -> None:
    response = client.models.generate_content(
        model=MODEL,
        contents=PROMPT,
        config=types.GenerateContentConfig(system_instruction="Answer briefly."),
    )

    assert response.text == EXPECTED
    assert response.model_version == MODEL
    assert response.response_id
    candidate = (response.candidates or [])[0]
    assert candidate.finish_reason == types.FinishReason.STOP
    assert candidate.content is not None and candidate.content.role == "model"
    usage = response.usage_metadata
    assert usage is not None
    assert usage.prompt_token_count == 6 + 2  # contents plus system instruction
    assert usage.candidates_token_count == 7
    assert usage.total_token_count == 15
    request = fake_llm.last_request
    assert request.path == f"/v1/models/{MODEL}:generateContent"
    assert request.api == "gemini-models" and request.model == MODEL
    assert request.header("x-goog-api-key") == "test-key"
    assert request.body["contents"] == [{"role": "user", "parts": [{"text": PROMPT}]}]


def test_generate_content_stream(client: genai.Client, fake_llm: FakeLLMServer) -> None:
    chunks = list(client.models.generate_content_stream(model=MODEL, contents=PROMPT))

    assert len(chunks) >= 3
    assert "".join(chunk.text or "" for chunk in chunks) == EXPECTED
    last = chunks[-1]
    assert last.usage_metadata is not None
    assert last.usage_metadata.candidates_token_count == 7
    assert last.usage_metadata.total_token_count == 13
    assert (last.candidates or [])[0].finish_reason == types.FinishReason.STOP
    assert all((c.candidates or [])[0].finish_reason is None for c in chunks[:-1])
    request = fake_llm.last_request
    assert request.path == f"/v1/models/{MODEL}:streamGenerateContent"
    assert request.query_value("alt") == "sse"
    assert request.stream is True


def test_chat_sends_the_history_on_the_second_message(
    client: genai.Client, fake_llm: FakeLLMServer
) -> None:
    fake_llm.queue_reply(text="Red, orange, yellow.")
    chat = client.chats.create(model=MODEL)

    first = chat.send_message(PROMPT)
    second = chat.send_message("And two more?")

    assert first.text == "Red, orange, yellow."
    assert second.text == "Echo: And two more?"
    assert len(fake_llm.requests) == 2
    assert fake_llm.requests[1].body["contents"] == [
        {"role": "user", "parts": [{"text": PROMPT}]},
        {"role": "model", "parts": [{"text": "Red, orange, yellow."}]},
        {"role": "user", "parts": [{"text": "And two more?"}]},
    ]


def test_chat_send_message_stream(client: genai.Client, fake_llm: FakeLLMServer) -> None:
    chat = client.chats.create(model=MODEL)

    text = "".join(chunk.text or "" for chunk in chat.send_message_stream(PROMPT))
    chat.send_message("Thanks")

    assert text == EXPECTED
    # The SDK keeps each streamed chunk as its own model turn in the history.
    history = fake_llm.requests[1].body["contents"]
    assert [turn["role"] for turn in (history[0], history[-1])] == ["user", "user"]
    model_turns = history[1:-1]
    assert len(model_turns) >= 3 and all(turn["role"] == "model" for turn in model_turns)
    assert "".join(part["text"] for turn in model_turns for part in turn["parts"]) == EXPECTED


def test_function_call(client: genai.Client, fake_llm: FakeLLMServer) -> None:
    fake_llm.queue_reply(tool_calls=[ToolCall("get_colour", {"index": 2})])
    tool = types.Tool(
        function_declarations=[
            types.FunctionDeclaration(
                name="get_colour",
                parameters=types.Schema(
                    type=types.Type.OBJECT,
                    properties={"index": types.Schema(type=types.Type.INTEGER)},
                ),
            )
        ]
    )

    response = client.models.generate_content(
        model=MODEL, contents=PROMPT, config=types.GenerateContentConfig(tools=[tool])
    )

    (call,) = response.function_calls or []
    assert (call.name, call.args) == ("get_colour", {"index": 2})
    assert fake_llm.last_request.body["tools"][0]["functionDeclarations"][0]["name"] == "get_colour"


def test_structured_output_is_parsed(client: genai.Client, fake_llm: FakeLLMServer) -> None:
    config = types.GenerateContentConfig(
        response_mime_type="application/json", response_schema=Colours
    )
    fake_llm.queue_reply(structured={"colours": ["red", "green", "blue"]})

    scripted = client.models.generate_content(model=MODEL, contents=PROMPT, config=config)
    synthesised = client.models.generate_content(model=MODEL, contents=PROMPT, config=config)

    assert scripted.parsed == Colours(colours=["red", "green", "blue"])
    assert synthesised.parsed == Colours(colours=[EXPECTED])


def test_cached_and_thought_tokens(client: genai.Client, fake_llm: FakeLLMServer) -> None:
    fake_llm.queue_reply(usage=Usage(input_tokens=80, cached_tokens=64, reasoning_tokens=9))

    usage = client.models.generate_content(model=MODEL, contents=PROMPT).usage_metadata

    assert usage is not None
    assert usage.prompt_token_count == 80  # includes the cached tokens
    assert usage.cached_content_token_count == 64
    assert usage.thoughts_token_count == 9
    assert usage.candidates_token_count == 7  # excludes the thoughts
    assert usage.total_token_count == 80 + 7 + 9


def test_api_version_v1beta(fake_llm: FakeLLMServer) -> None:
    client = make_client(fake_llm, api_version="v1beta")

    assert client.models.generate_content(model=MODEL, contents=PROMPT).text == EXPECTED
    assert fake_llm.last_request.path == f"/v1beta/models/{MODEL}:generateContent"


def test_vertex_configured_client(fake_llm: FakeLLMServer) -> None:
    client = genai.Client(
        vertexai=True,
        project="demo-project",
        location="us-central1",
        credentials=Credentials(token="vertex-token"),
        http_options=types.HttpOptions(base_url=fake_llm.gemini_base_url),
    )

    response = client.models.generate_content(model=MODEL, contents=PROMPT)
    streamed = "".join(
        c.text or "" for c in client.models.generate_content_stream(model=MODEL, contents=PROMPT)
    )

    assert response.text == EXPECTED and streamed == EXPECTED
    assert response.create_time is not None
    first, second = fake_llm.requests
    prefix = "/v1beta1/projects/demo-project/locations/us-central1/publishers/google/models"
    assert first.path == f"{prefix}/{MODEL}:generateContent"
    assert second.path == f"{prefix}/{MODEL}:streamGenerateContent"
    assert first.header("authorization") == "Bearer vertex-token"


@pytest.mark.parametrize(
    ("status", "exception", "google_status"),
    [
        (400, errors.ClientError, "INVALID_ARGUMENT"),
        (429, errors.ClientError, "RESOURCE_EXHAUSTED"),
        (500, errors.ServerError, "INTERNAL"),
        (503, errors.ServerError, "UNAVAILABLE"),
    ],
)
def test_error_statuses_raise_the_sdk_exceptions(
    client: genai.Client,
    fake_llm: FakeLLMServer,
    status: int,
    exception: type[errors.APIError],
    google_status: str,
) -> None:
    fake_llm.queue_reply(error_status=status, error_message="scripted")

    with pytest.raises(exception) as raised:
        client.models.generate_content(model=MODEL, contents=PROMPT)

    assert raised.value.code == status
    assert raised.value.status == google_status
    assert raised.value.message == "scripted"
    assert len(fake_llm.requests) == 1


def test_error_on_a_stream_raises_when_iterated(
    client: genai.Client, fake_llm: FakeLLMServer
) -> None:
    fake_llm.queue_reply(error_status=500)

    with pytest.raises(errors.ServerError):
        list(client.models.generate_content_stream(model=MODEL, contents=PROMPT))


def test_delay_beyond_the_timeout_raises_a_timeout(fake_llm: FakeLLMServer) -> None:
    client = make_client(fake_llm, timeout=300)  # milliseconds
    fake_llm.queue_reply(delay=5)

    with pytest.raises(httpx2.TimeoutException):
        client.models.generate_content(model=MODEL, contents=PROMPT)
    # The client gave up first: on a busy machine the handler may read the request later.
    assert len(fake_llm.wait_for_requests(1, timeout=5)) == 1


async def test_aio_generate_content_and_stream(
    client: genai.Client, fake_llm: FakeLLMServer
) -> None:
    response = await client.aio.models.generate_content(model=MODEL, contents=PROMPT)
    stream = await client.aio.models.generate_content_stream(model=MODEL, contents=PROMPT)
    text = "".join([chunk.text or "" async for chunk in stream])
    chat = client.aio.chats.create(model=MODEL)
    await chat.send_message("one")
    await chat.send_message("two")

    assert response.text == EXPECTED and text == EXPECTED
    assert len(fake_llm.requests[-1].body["contents"]) == 3
    await client.aio.aclose()
