"""What a user relies on beyond the happy path: errors, associations from the context, privacy,
arguments left alone, client copies, raw responses, Azure, and the quick start as written."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel, ValidationError

import voker_core
from tests.openai.helpers import (
    CHAT_ARGS,
    EVENT_KEYS,
    MESSAGES,
    RESPONSES_ARGS,
    VOKER,
    aplain,
    awrapped,
    azure_options,
    chat_text,
    check_associations,
    check_usage,
    client_options,
    dump,
    llm_events,
    normalise,
    one_event,
    plain,
    wrapped,
)
from tests.stand_ins import BrokenVokerClient
from voker_core import VokerClient
from voker_core.ai import provider_openai
from voker_core.ai._openai._typing import ChatCreateNonStreaming, ResponsesCreateStreaming
from voker_core.testing.fake_llm import Reply

# -- provider errors ------------------------------------------------------------------------------

ERRORS = {
    "500": (Reply(error_status=500), {}, openai.InternalServerError, 500),
    "429": (Reply(error_status=429, retry_after=1), {}, openai.RateLimitError, 429),
    "timeout": (Reply(delay=1.0), {"timeout": 0.2}, openai.APITimeoutError, None),
}


@pytest.mark.parametrize("kind", list(ERRORS))
def test_provider_errors_are_recorded_and_reraised(
    kind: str, fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    reply, options, exc_type, status = ERRORS[kind]
    fake_llm.queue_replies(reply, reply)
    with plain(fake_llm, **options) as client, pytest.raises(exc_type) as unwrapped:
        client.chat.completions.create(**CHAT_ARGS)
    with wrapped(fake_llm, voker_client, **options) as client, pytest.raises(exc_type) as caught:
        client.chat.completions.create(**CHAT_ARGS, **VOKER)
    assert type(caught.value) is type(unwrapped.value)
    assert str(caught.value) == str(unwrapped.value)
    event = one_event(voker_client, voker_server)
    check_associations(event)
    props = event["properties"]
    assert props.keys() >= EVENT_KEYS
    assert props["error"] == {
        "type": exc_type.__name__,
        "message": str(caught.value),
        "status_code": status,
    }
    assert props["output"] is None and props["usage"] is None
    assert props["latency_ms"] > 0


@pytest.mark.parametrize("kind", list(ERRORS))
async def test_async_provider_errors_are_recorded_and_reraised(
    kind: str, fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    reply, options, exc_type, status = ERRORS[kind]
    fake_llm.queue_replies(reply, reply)
    async with aplain(fake_llm, **options) as client:
        with pytest.raises(exc_type) as unwrapped:
            await client.responses.create(**RESPONSES_ARGS)
    async with awrapped(fake_llm, voker_client, **options) as client:
        with pytest.raises(exc_type) as caught:
            await client.responses.create(**RESPONSES_ARGS, **VOKER)
    assert str(caught.value) == str(unwrapped.value)
    props = one_event(voker_client, voker_server)["properties"]
    assert props["api"] == "openai-responses"
    assert props["error"]["type"] == exc_type.__name__
    assert props["error"]["status_code"] == status


def test_an_error_opening_a_stream_manager_is_recorded(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(error_status=500)
    with wrapped(fake_llm, voker_client) as client:
        manager = client.chat.completions.stream(**CHAT_ARGS, **VOKER)
        with pytest.raises(openai.InternalServerError), manager:
            pass
    props = one_event(voker_client, voker_server)["properties"]
    assert props["stream"] is True
    assert props["error"]["status_code"] == 500


# -- associations ---------------------------------------------------------------------------------


def test_missing_session_raises_before_any_request(fake_llm: Any, voker_client: Any) -> None:
    with wrapped(fake_llm, voker_client) as client:
        with pytest.raises(TypeError, match="voker_session"):
            client.chat.completions.create(**CHAT_ARGS, voker_agent="a")
        with pytest.raises(TypeError, match="voker_session"):
            client.chat.completions.create(**CHAT_ARGS, voker_agent="a", stream=True)
        with pytest.raises(TypeError, match="voker_session"):
            client.chat.completions.stream(**CHAT_ARGS, voker_agent="a")
        with pytest.raises(TypeError, match="voker_session"):
            client.responses.parse(**RESPONSES_ARGS, voker_agent="a")
        with pytest.raises(TypeError, match="voker_agent"):
            client.responses.stream(**RESPONSES_ARGS, voker_session="s")
    assert fake_llm.requests == []


@pytest.mark.parametrize("name", ["session", "agent", "agent_version", "person"])
def test_a_bad_voker_name_raises_naming_it_before_any_request(
    fake_llm: Any, voker_client: Any, name: str
) -> None:
    good = {"voker_session": "s", "voker_agent": "a"}
    with wrapped(fake_llm, voker_client) as client:
        with pytest.raises(TypeError, match=f"voker_{name} must be a string, got int"):
            client.chat.completions.create(**CHAT_ARGS, **{**good, f"voker_{name}": 7})
        with pytest.raises(ValueError, match=f"voker_{name} must not be empty"):
            client.chat.completions.create(**CHAT_ARGS, **{**good, f"voker_{name}": "  "})
    assert fake_llm.requests == []


async def test_async_missing_session_raises_before_any_request(
    fake_llm: Any, voker_client: Any
) -> None:
    async with awrapped(fake_llm, voker_client) as client:
        with pytest.raises(TypeError, match="voker_session"):
            await client.responses.create(**RESPONSES_ARGS, voker_agent="a")
        with pytest.raises(TypeError, match="voker_session"):
            client.chat.completions.stream(**CHAT_ARGS, voker_agent="a")
    assert fake_llm.requests == []


def test_the_context_supplies_session_and_agent(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with wrapped(fake_llm, voker_client) as client:
        with voker_core.context(session="ctx-session", agent="ctx-agent", person="ctx-person"):
            client.chat.completions.create(**CHAT_ARGS)
            with client.chat.completions.stream(**CHAT_ARGS) as stream:
                stream.until_done()
            client.responses.create(**RESPONSES_ARGS, voker_agent="explicit-agent")
    events = llm_events(voker_client, voker_server)
    assert [(e["session"], e["agent"], e["person"]) for e in events] == [
        ("ctx-session", "ctx-agent", "ctx-person"),
        ("ctx-session", "ctx-agent", "ctx-person"),
        ("ctx-session", "explicit-agent", "ctx-person"),
    ]


async def test_the_context_supplies_session_and_agent_async(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    async with awrapped(fake_llm, voker_client) as client:
        async with voker_core.context(session="ctx-session", agent="ctx-agent"):
            stream = await client.chat.completions.create(**CHAT_ARGS, stream=True)
            [chunk async for chunk in stream]
    event = one_event(voker_client, voker_server)
    assert (event["session"], event["agent"]) == ("ctx-session", "ctx-agent")


def test_voker_properties_are_merged_in(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with wrapped(fake_llm, voker_client) as client:
        with voker_core.context(properties={"tenant": "acme", "api": "user-value"}):
            client.chat.completions.create(**CHAT_ARGS, **VOKER, voker_properties={"step": 3})
    props = one_event(voker_client, voker_server)["properties"]
    assert props["tenant"] == "acme" and props["step"] == 3
    assert props["api"] == "openai-chat-completions"  # the recorder's keys win


# -- privacy and robustness -----------------------------------------------------------------------


def test_transport_options_are_not_recorded_in_inputs(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    """Gateways take their keys in per-request headers: those never reach Voker."""
    with wrapped(fake_llm, voker_client) as client:
        client.chat.completions.create(
            **CHAT_ARGS,
            **VOKER,
            extra_headers={"Helicone-Auth": "Bearer sk-helicone-secret"},
            extra_query={"key": "q-secret"},
            extra_body={"user": "u-9"},
            timeout=30,
        )
    assert fake_llm.requests[0].headers["helicone-auth"] == "Bearer sk-helicone-secret"
    inputs = one_event(voker_client, voker_server)["properties"]["inputs"]
    assert "secret" not in json.dumps(inputs)
    assert inputs["messages"] == CHAT_ARGS["messages"]
    assert inputs["extra_body"] == {"user": "u-9"}  # sent as part of the request body: content


def test_capture_content_off_keeps_usage_and_latency(fake_llm: Any, voker_server: Any) -> None:
    private = VokerClient(api_key="k", base_url=voker_server.base_url, capture_content=False)
    try:
        with wrapped(fake_llm, private) as client:
            client.chat.completions.create(**CHAT_ARGS, **VOKER)
            list(client.responses.create(**RESPONSES_ARGS, **VOKER, stream=True))
        events = llm_events(private, voker_server)
    finally:
        private.close(5)
    assert len(events) == 2
    for event in events:
        props = event["properties"]
        assert "inputs" not in props and "output" not in props
        assert props["usage"]["input_tokens"] > 0
        assert props["latency_ms"] > 0
        assert props["model"] == "gpt-4.1-mini"


def test_a_raising_before_send_never_reaches_the_caller(fake_llm: Any, voker_server: Any) -> None:
    def before_send(event: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("boom")

    failing = VokerClient(api_key="k", base_url=voker_server.base_url, before_send=before_send)
    try:
        with wrapped(fake_llm, failing) as client:
            result = client.chat.completions.create(**CHAT_ARGS, **VOKER)
            chunks = list(client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True))
        assert failing.flush(5)
    finally:
        failing.close(5)
    assert result.choices[0].message.content == "Echo: hello there world"
    assert chat_text(chunks) == "Echo: hello there world"
    assert voker_server.events() == []


def test_a_broken_voker_client_never_reaches_the_caller(fake_llm: Any) -> None:
    with wrapped(fake_llm, BrokenVokerClient()) as client:
        result = client.chat.completions.create(**CHAT_ARGS, **VOKER)
        chunks = list(client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True))
    assert result.choices[0].message.content == chat_text(chunks) == "Echo: hello there world"


def test_the_callers_arguments_are_not_modified(fake_llm: Any, voker_client: Any) -> None:
    kwargs = {
        **CHAT_ARGS,
        **VOKER,
        "messages": copy.deepcopy(MESSAGES),
        "stream_options": {"include_obfuscation": False},
        "extra_headers": {"x-trace": "1"},
        "voker_properties": {"nested": {"k": [1, 2]}},
    }
    before = copy.deepcopy(kwargs)
    with wrapped(fake_llm, voker_client) as client:
        list(client.chat.completions.create(**kwargs, stream=True))
        with client.chat.completions.stream(**kwargs) as stream:
            stream.until_done()
        client.chat.completions.create(**{k: v for k, v in kwargs.items() if k != "stream_options"})
    assert kwargs == before
    sent = fake_llm.requests[0].body
    assert sent["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert fake_llm.requests[0].header("x-trace") == "1"
    assert "x-voker-pending-call" not in fake_llm.requests[1].headers


def test_messages_given_as_a_generator_are_sent_and_recorded(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    # The SDK takes any iterable; the event must show the messages, not a generator's repr.
    with wrapped(fake_llm, voker_client) as client:
        result = client.chat.completions.create(
            model="gpt-4.1-mini", messages=(dict(m) for m in MESSAGES), **VOKER
        )
    assert result.choices[0].message.content == "Echo: hello there world"
    assert fake_llm.requests[0].body["messages"] == MESSAGES
    assert one_event(voker_client, voker_server)["properties"]["inputs"]["messages"] == MESSAGES


async def test_arguments_the_sdk_refuses_record_nothing(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    # An unknown or missing keyword is the caller's bug, raised before any request: the caller
    # gets the SDK's TypeError unchanged, and no failed llm event stands for a call never made.
    with wrapped(fake_llm, voker_client) as client:
        with pytest.raises(TypeError, match="unexpected keyword argument 'temprature'"):
            client.chat.completions.create(**CHAT_ARGS, **VOKER, temprature=0.2)
        with pytest.raises(TypeError, match="messages"):
            client.chat.completions.create(model="gpt-4.1-mini", **VOKER)
        with pytest.raises(TypeError, match="unexpected keyword argument 'inptu'"):
            client.responses.parse(model="gpt-4.1-mini", inptu="hi", **VOKER)
    async with awrapped(fake_llm, voker_client) as aclient:
        with pytest.raises(TypeError, match="unexpected keyword argument 'temprature'"):
            await aclient.responses.create(**RESPONSES_ARGS, **VOKER, temprature=0.2)
    assert fake_llm.requests == []

    # A TypeError from a call that did take its arguments is still recorded (here: a
    # before-send hook of the HTTP client's, raising inside the SDK; openai 1.x wraps it in
    # its APIConnectionError).
    def broken_hook(request: Any) -> None:
        raise TypeError("hook broke")

    with wrapped(
        fake_llm, voker_client, http_client=httpx.Client(event_hooks={"request": [broken_hook]})
    ) as client:
        with pytest.raises((TypeError, openai.APIConnectionError)) as raised:
            client.chat.completions.create(**CHAT_ARGS, **VOKER)
    error = one_event(voker_client, voker_server)["properties"]["error"]
    assert error["type"] == type(raised.value).__name__
    assert error["message"] == str(raised.value)


class City(BaseModel):
    city: str


LOOSE_TOOL: Any = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


def _refused_by_the_sdk(client: Any, **voker: Any) -> dict[str, Callable[[], Any]]:
    """Calls whose arguments the SDK itself refuses before any request (its own checks, not
    a signature's), sync or async alike."""
    return {
        "create(response_format=<a pydantic class>)": lambda: client.chat.completions.create(
            **CHAT_ARGS, **voker, response_format=City
        ),
        "parse(tools=[a non-strict function])": lambda: client.chat.completions.parse(
            **CHAT_ARGS, **voker, tools=[LOOSE_TOOL]
        ),
    }


async def test_arguments_the_sdk_checks_itself_record_nothing(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with plain(fake_llm) as client:
        expected = {}
        for name, call in _refused_by_the_sdk(client).items():
            with pytest.raises((TypeError, ValueError)) as raised:
                call()
            expected[name] = (type(raised.value), str(raised.value))
    with wrapped(fake_llm, voker_client) as client:
        for name, call in _refused_by_the_sdk(client, **VOKER).items():
            with pytest.raises((TypeError, ValueError)) as raised:
                call()
            assert (type(raised.value), str(raised.value)) == expected[name]
    async with awrapped(fake_llm, voker_client) as aclient:
        for name, call in _refused_by_the_sdk(aclient, **VOKER).items():
            with pytest.raises((TypeError, ValueError)) as raised:
                await call()
            assert (type(raised.value), str(raised.value)) == expected[name]
    assert fake_llm.requests == []
    assert llm_events(voker_client, voker_server) == []


async def test_a_response_parse_cannot_validate_is_recorded(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    """pydantic's ValidationError is a ValueError too, but it comes after the model answered:
    a call was made, and is recorded with that error."""
    fake_llm.queue_reply(structured={"town": "Paris"}, times=2)
    with wrapped(fake_llm, voker_client) as client:
        with pytest.raises(ValidationError) as raised:
            client.chat.completions.parse(**CHAT_ARGS, **VOKER, response_format=City)
    async with awrapped(fake_llm, voker_client) as aclient:
        with pytest.raises(ValidationError):
            await aclient.chat.completions.parse(**CHAT_ARGS, **VOKER, response_format=City)
    assert len(fake_llm.requests) == 2
    events = llm_events(voker_client, voker_server)
    assert len(events) == 2
    for event in events:
        error = event["properties"]["error"]
        assert error["type"] == "ValidationError"
        assert error["message"] == str(raised.value)


# -- client copies, raw responses, untouched attributes -------------------------------------------


def test_with_options_and_copy_keep_recording(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with wrapped(fake_llm, voker_client) as client:
        for derived in (client.with_options(timeout=5), client.copy(max_retries=1)):
            assert isinstance(derived, provider_openai.OpenAI)
            derived.chat.completions.create(**CHAT_ARGS, **VOKER)
            derived.responses.create(**RESPONSES_ARGS, **VOKER)
    assert len(llm_events(voker_client, voker_server)) == 4


async def test_async_with_options_keeps_recording(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    async with awrapped(fake_llm, voker_client) as client:
        await client.with_options(timeout=5).chat.completions.create(**CHAT_ARGS, **VOKER)
    one_event(voker_client, voker_server)


def test_raw_response_calls_are_recorded(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with wrapped(fake_llm, voker_client) as client:
        raw = client.chat.completions.with_raw_response.create(**CHAT_ARGS, **VOKER)
        completion = raw.parse()
        assert raw.headers["content-type"].startswith("application/json")
        parsed = client.with_raw_response.responses.create(**RESPONSES_ARGS, **VOKER).parse()
        raw_stream = client.chat.completions.with_raw_response.create(
            **CHAT_ARGS, **VOKER, stream=True
        )
        chunks = list(raw_stream.parse())
        with client.chat.completions.with_streaming_response.create(
            **CHAT_ARGS, **VOKER
        ) as response:
            streamed = response.parse()
        with client.responses.with_streaming_response.create(
            **RESPONSES_ARGS, **VOKER, stream=True
        ) as response:
            events = list(response.parse())
    recorded = [e["properties"] for e in llm_events(voker_client, voker_server)]
    assert [p["api"] for p in recorded] == [
        "openai-chat-completions",
        "openai-responses",
        "openai-chat-completions",
        "openai-chat-completions",
        "openai-responses",
    ]
    assert recorded[0]["output"] == dump(completion)
    assert recorded[1]["output"] == dump(parsed)
    assert recorded[2]["output"]["choices"][0]["message"]["content"] == chat_text(chunks)
    assert recorded[3]["output"] == dump(streamed)
    assert recorded[4]["output"] == dump(events[-1].response)
    assert all(p["error"] is None for p in recorded)


async def test_async_raw_response_calls_are_recorded(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    async with awrapped(fake_llm, voker_client) as client:
        raw = await client.chat.completions.with_raw_response.create(**CHAT_ARGS, **VOKER)
        completion = raw.parse()
        async with client.chat.completions.with_streaming_response.create(
            **CHAT_ARGS, **VOKER, stream=True
        ) as response:
            chunks = [chunk async for chunk in await response.parse()]
    recorded = [e["properties"] for e in llm_events(voker_client, voker_server)]
    assert recorded[0]["output"] == dump(completion)
    assert recorded[1]["output"]["choices"][0]["message"]["content"] == chat_text(chunks)


def test_everything_else_is_the_sdks(fake_llm: Any, voker_client: Any) -> None:
    from openai.resources.chat.completions.messages import Messages
    from openai.resources.embeddings import Embeddings
    from openai.resources.files import Files
    from openai.resources.models import Models
    from openai.resources.responses.input_items import InputItems

    with wrapped(fake_llm, voker_client) as client:
        assert isinstance(client, openai.OpenAI)
        assert type(client.embeddings) is Embeddings
        assert type(client.models) is Models
        assert type(client.files) is Files
        assert type(client.chat.completions.messages) is Messages
        assert type(client.responses.input_items) is InputItems
        assert isinstance(client.chat.completions, openai.resources.chat.Completions)
        assert isinstance(client.responses, openai.resources.responses.Responses)
        assert str(client.base_url) == fake_llm.openai_base_url + "/"
        with pytest.raises(TypeError):
            client.embeddings.create(model="m", input="x", voker_session="s")  # type: ignore[call-arg]
    assert fake_llm.requests == []


def test_the_beta_chat_alias_records_too(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with wrapped(fake_llm, voker_client) as client:
        assert isinstance(client.beta, openai.resources.beta.Beta)
        assert hasattr(client.beta, "responses") == hasattr(openai.resources.beta, "responses")
        client.beta.chat.completions.create(**CHAT_ARGS, **VOKER)
    assert one_event(voker_client, voker_server)["properties"]["api"] == ("openai-chat-completions")


HAS_BETA_RESPONSES = hasattr(openai.resources.beta, "responses")


@pytest.mark.skipif(not HAS_BETA_RESPONSES, reason="this openai SDK has no beta.responses")
async def test_the_beta_responses_api_records(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    from openai.resources.beta.responses.responses import AsyncResponses, Responses

    with wrapped(fake_llm, voker_client) as client, plain(fake_llm) as unwrapped:
        assert isinstance(client.beta.responses, Responses)
        response = client.beta.responses.create(**RESPONSES_ARGS, **VOKER)
        expected = unwrapped.beta.responses.create(**RESPONSES_ARGS)
        with client.beta.responses.create(**RESPONSES_ARGS, **VOKER, stream=True) as stream:
            events = list(stream)
        raw = client.beta.responses.with_raw_response.create(**RESPONSES_ARGS, **VOKER)
    async with awrapped(fake_llm, voker_client) as aclient:
        assert isinstance(aclient.beta.responses, AsyncResponses)
        astream = await aclient.beta.responses.create(
            **RESPONSES_ARGS, stream=True, voker_agent="a", voker_session="beta-async"
        )
        async for _ in astream:
            break
        await astream.close()
    assert normalise(dump(response)) == normalise(dump(expected))
    assert events[-1].type == "response.completed"
    assert raw.parse().status == "completed"
    assert all(r.query == {"beta": ["true"]} for r in fake_llm.requests)

    recorded = llm_events(voker_client, voker_server, session=VOKER["voker_session"])
    assert [e["properties"]["stream"] for e in recorded] == [False, True, False]
    for event, reply in zip(
        recorded, (fake_llm.requests[0], fake_llm.requests[2], fake_llm.requests[3]), strict=True
    ):
        props = event["properties"]
        check_associations(event)
        assert props["api"] == "openai-responses"
        assert props["inputs"] == {
            **RESPONSES_ARGS,
            **({"stream": True} if props["stream"] else {}),
        }
        assert props["finish_reason"] == "stop"
        assert props["output"]["output"][0]["content"][0]["text"] == reply.reply.text
        check_usage(props, reply.reply)
    assert recorded[0]["properties"]["output"] == dump(response)
    assert recorded[1]["properties"]["time_to_first_token_ms"] > 0
    early = one_event(voker_client, voker_server, session="beta-async")["properties"]
    assert early["stream"] is True and early["finish_reason"] is None


def test_voker_keywords_are_in_the_type_hints() -> None:
    for typed in (ChatCreateNonStreaming, ResponsesCreateStreaming):
        keys = typed.__optional_keys__ | typed.__required_keys__
        assert {"voker_agent", "voker_session", "voker_person", "model", "timeout"} <= keys
    assert "messages" in ChatCreateNonStreaming.__annotations__
    assert "stream" in ResponsesCreateStreaming.__annotations__


# -- Azure --------------------------------------------------------------------------------------


def test_azure_clients_record_with_their_provider(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    client = provider_openai.AzureOpenAI(**azure_options(fake_llm, voker_client=voker_client))
    with client:
        assert isinstance(client, openai.AzureOpenAI)
        client.chat.completions.create(**{**CHAT_ARGS, "model": "my-deployment"}, **VOKER)
        client.with_options(timeout=5).responses.create(**RESPONSES_ARGS, **VOKER)
    chat_request, responses_request = fake_llm.requests
    assert chat_request.path == "/openai/deployments/my-deployment/chat/completions"
    assert chat_request.query_value("api-version") == "2024-10-21"
    assert responses_request.path == "/openai/responses"
    events = llm_events(voker_client, voker_server)
    assert [e["properties"]["provider"] for e in events] == ["azure-openai", "azure-openai"]
    assert events[0]["properties"]["model"] == "my-deployment"


async def test_async_azure_streams_record(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    client = provider_openai.AsyncAzureOpenAI(
        **azure_options(fake_llm, azure_deployment="dep-1", voker_client=voker_client)
    )
    async with client:
        stream = await client.chat.completions.create(**CHAT_ARGS, **VOKER, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert fake_llm.requests[0].path == "/openai/deployments/dep-1/chat/completions"
    props = one_event(voker_client, voker_server)["properties"]
    assert props["provider"] == "azure-openai"
    assert props["output"]["choices"][0]["message"]["content"] == text
    assert props["usage"]["input_tokens"] == fake_llm.requests[0].reply.input_tokens


# -- the seed's quick start -----------------------------------------------------------------------


def test_the_quick_start_runs_as_written(
    fake_llm: Any,
    default_voker_client: Any,
    voker_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.openai_base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "fake-openai-key")

    # --- the seed's snippet, with only the import path changed ---
    from voker_core.ai.provider_openai import OpenAI

    client = OpenAI()
    client.chat.completions.create(
        voker_agent="customer-support-agent",  # required
        voker_session="user-session-1",  # required
        model="gpt-4.1-mini",
        messages=[{"role": "user", "content": "Hello, world!"}],
    )
    # ---

    client.close()
    assert default_voker_client.flush(10)
    (event,) = voker_server.events(session="user-session-1")
    assert event["agent"] == "customer-support-agent"
    assert event["properties"]["output"]["choices"][0]["message"]["content"] == (
        "Echo: Hello, world!"
    )
    assert client_options(fake_llm)  # the fake server answered (it is what OPENAI_BASE_URL names)
