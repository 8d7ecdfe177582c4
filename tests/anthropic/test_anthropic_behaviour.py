"""What a user relies on beyond the happy path: provider errors recorded and re-raised
unchanged, missing agent/session refused before any request, the context, capture_content,
untouched arguments, a broken Voker never reaching the caller, and a true drop-in client."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import anthropic
import pytest

import voker_core
from tests.anthropic.helpers import (
    ARGS,
    MESSAGES,
    VOKER,
    awrapped,
    client_options,
    llm_events,
    one_event,
    wrapped,
)
from tests.stand_ins import BrokenVokerClient
from voker_core import VokerClient
from voker_core.ai.provider_anthropic import Anthropic, AsyncAnthropic
from voker_core.testing.fake_llm import Reply


def _sync_calls() -> dict[str, Callable[[Any, dict[str, Any]], Any]]:
    def stream_helper(client: Any, voker: dict[str, Any]) -> Any:
        with client.messages.stream(**ARGS, **voker) as stream:
            return stream.get_final_message()

    def create_stream(client: Any, voker: dict[str, Any]) -> Any:
        return list(client.messages.create(**ARGS, **voker, stream=True))

    return {
        "create": lambda client, voker: client.messages.create(**ARGS, **voker),
        "create-stream": create_stream,
        "stream": stream_helper,
        "beta-create": lambda client, voker: client.beta.messages.create(**ARGS, **voker),
    }


def _async_calls() -> dict[str, Callable[[Any, dict[str, Any]], Awaitable[Any]]]:
    async def create(client: Any, voker: dict[str, Any]) -> Any:
        return await client.messages.create(**ARGS, **voker)

    async def create_stream(client: Any, voker: dict[str, Any]) -> Any:
        return [e async for e in await client.messages.create(**ARGS, **voker, stream=True)]

    async def stream_helper(client: Any, voker: dict[str, Any]) -> Any:
        async with client.messages.stream(**ARGS, **voker) as stream:
            return await stream.get_final_message()

    async def beta_stream(client: Any, voker: dict[str, Any]) -> Any:
        async with client.beta.messages.stream(**ARGS, **voker) as stream:
            return await stream.get_final_message()

    return {
        "create": create,
        "create-stream": create_stream,
        "stream": stream_helper,
        "beta-stream": beta_stream,
    }


SYNC_CALLS = _sync_calls()
ASYNC_CALLS = _async_calls()

ERRORS = [
    pytest.param(Reply(error_status=500), anthropic.InternalServerError, 500, id="500"),
    pytest.param(Reply(error_status=429, retry_after=1), anthropic.RateLimitError, 429, id="429"),
    pytest.param(Reply(delay=1.0), anthropic.APITimeoutError, None, id="timeout"),
]


def _timeout(reply: Reply) -> float:
    """Short only where the timeout is the point: on a busy machine even a loopback connect can
    take a quarter of a second."""
    return 0.25 if reply.delay else 10.0


def _no_ids(text: str) -> str:
    return re.sub(r"req_fake\d+", "req_fake", text)


def _check_error_event(props: dict[str, Any], caught: BaseException, status: int | None) -> None:
    assert props["error"] == {
        "type": type(caught).__name__,
        "message": str(caught),
        "status_code": status,
    }
    assert props["output"] is None
    assert props["usage"] is None
    assert props["latency_ms"] > 0


@pytest.mark.parametrize("call", SYNC_CALLS, ids=str)
@pytest.mark.parametrize(("reply", "exc_type", "status"), ERRORS)
def test_provider_errors_are_recorded_and_reraised_unchanged(
    call: str,
    reply: Reply,
    exc_type: type[BaseException],
    status: int | None,
    fake_llm: Any,
    voker_client: Any,
    voker_server: Any,
) -> None:
    fake_llm.queue_reply(reply)
    with anthropic.Anthropic(**client_options(fake_llm, timeout=_timeout(reply))) as plain_client:
        with pytest.raises(exc_type) as unwrapped_error:
            SYNC_CALLS[call](plain_client, {})
    fake_llm.queue_reply(reply)
    with wrapped(fake_llm, voker_client, timeout=_timeout(reply)) as client:
        with pytest.raises(exc_type) as caught:
            SYNC_CALLS[call](client, VOKER)
    assert type(caught.value) is type(unwrapped_error.value)
    assert _no_ids(str(caught.value)) == _no_ids(str(unwrapped_error.value))
    assert getattr(caught.value, "status_code", None) == status
    _check_error_event(one_event(voker_client, voker_server)["properties"], caught.value, status)


@pytest.mark.parametrize("call", ASYNC_CALLS, ids=str)
@pytest.mark.parametrize(("reply", "exc_type", "status"), ERRORS)
async def test_async_provider_errors_are_recorded_and_reraised_unchanged(
    call: str,
    reply: Reply,
    exc_type: type[BaseException],
    status: int | None,
    fake_llm: Any,
    voker_client: Any,
    voker_server: Any,
) -> None:
    fake_llm.queue_reply(reply)
    async with awrapped(fake_llm, voker_client, timeout=_timeout(reply)) as client:
        with pytest.raises(exc_type) as caught:
            await ASYNC_CALLS[call](client, VOKER)
    _check_error_event(one_event(voker_client, voker_server)["properties"], caught.value, status)


def test_the_sdk_retries_are_one_call_and_one_event(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    fake_llm.queue_reply(error_status=503)
    with wrapped(fake_llm, voker_client, max_retries=1) as client:
        message = client.messages.create(**ARGS, **VOKER)
    assert len(fake_llm.requests) == 2
    props = one_event(voker_client, voker_server)["properties"]
    assert props["error"] is None
    assert props["output"]["content"][0]["text"] == message.content[0].text


@pytest.mark.parametrize("missing", ["voker_session", "voker_agent"])
@pytest.mark.parametrize("call", SYNC_CALLS, ids=str)
def test_a_missing_agent_or_session_raises_before_any_request(
    missing: str, call: str, fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    voker = {k: v for k, v in VOKER.items() if k != missing}
    with wrapped(fake_llm, voker_client) as client:
        with pytest.raises(TypeError, match=missing):
            SYNC_CALLS[call](client, voker)
    assert fake_llm.requests == []
    assert llm_events(voker_client, voker_server) == []


@pytest.mark.parametrize("missing", ["voker_session", "voker_agent"])
@pytest.mark.parametrize("call", ASYNC_CALLS, ids=str)
async def test_async_missing_agent_or_session_raises_before_any_request(
    missing: str, call: str, fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    voker = {k: v for k, v in VOKER.items() if k != missing}
    async with awrapped(fake_llm, voker_client) as client:
        with pytest.raises(TypeError, match=missing):
            await ASYNC_CALLS[call](client, voker)
    assert fake_llm.requests == []
    assert llm_events(voker_client, voker_server) == []


def test_the_stream_helper_refuses_at_once_not_on_entry(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with wrapped(fake_llm, voker_client) as client, pytest.raises(TypeError, match="session"):
        client.messages.stream(**ARGS, voker_agent="support-bot")
    assert fake_llm.requests == []


@pytest.mark.parametrize("call", SYNC_CALLS, ids=str)
def test_the_context_supplies_agent_session_and_person(
    call: str, fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with wrapped(fake_llm, voker_client) as client:
        with voker_core.context(
            session="ctx-session",
            agent="ctx-agent",
            agent_version="ctx-v2",
            person="ctx-person",
            properties={"tenant": "acme"},
        ):
            SYNC_CALLS[call](client, {})
    event = one_event(voker_client, voker_server)
    assert (event["session"], event["agent"], event["agent_version"], event["person"]) == (
        "ctx-session",
        "ctx-agent",
        "ctx-v2",
        "ctx-person",
    )
    assert event["properties"]["tenant"] == "acme"


@pytest.mark.parametrize("call", ASYNC_CALLS, ids=str)
async def test_async_context_and_explicit_arguments(
    call: str, fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    async with awrapped(fake_llm, voker_client) as client:
        async with voker_core.context(session="ctx-session", agent="ctx-agent"):
            await ASYNC_CALLS[call](
                client, {"voker_session": "explicit", "voker_properties": {"k": 1}}
            )
    event = one_event(voker_client, voker_server)
    assert (event["session"], event["agent"]) == ("explicit", "ctx-agent")  # explicit wins
    assert event["properties"]["k"] == 1


@pytest.mark.parametrize("call", SYNC_CALLS, ids=str)
def test_capture_content_off_keeps_metadata_only(
    call: str, fake_llm: Any, voker_server: Any
) -> None:
    with VokerClient(
        api_key="test-key", base_url=voker_server.base_url, capture_content=False
    ) as voker_client:
        with wrapped(fake_llm, voker_client) as client:
            SYNC_CALLS[call](client, VOKER)
        props = one_event(voker_client, voker_server)["properties"]
    assert "inputs" not in props and "output" not in props
    assert props["usage"]["output_tokens"] == fake_llm.requests[-1].reply.output_tokens
    assert props["latency_ms"] > 0
    assert props["model"] == ARGS["model"]
    assert props["finish_reason"] == "stop"


def test_the_callers_arguments_are_not_mutated(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    messages = [{"role": "user", "content": "hello there world"}]
    kwargs: dict[str, Any] = {**ARGS, "messages": messages, **VOKER, "voker_properties": {"a": 1}}
    before = copy.deepcopy(kwargs)
    with wrapped(fake_llm, voker_client) as client:
        reply = client.messages.create(**kwargs)
        messages.append({"role": "assistant", "content": reply.content[0].text})
        with client.messages.stream(**kwargs) as stream:
            stream.until_done()
    assert kwargs["voker_properties"] == {"a": 1}
    assert [m for m in kwargs["messages"] if m["role"] == "user"] == before["messages"]
    events = llm_events(voker_client, voker_server)
    # The first event kept the messages as they were when the call was made.
    assert events[0]["properties"]["inputs"]["messages"] == MESSAGES
    assert len(events[1]["properties"]["inputs"]["messages"]) == 2


async def test_generator_messages_and_refused_arguments(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    # Messages from a generator are sent and recorded as items; a keyword the SDK refuses
    # raises its TypeError before any request and records nothing.
    async with awrapped(fake_llm, voker_client) as client:
        reply = await client.messages.create(
            **{**ARGS, "messages": (dict(m) for m in MESSAGES)}, **VOKER
        )
        with pytest.raises(TypeError, match="unexpected keyword argument 'max_token'"):
            await client.messages.create(**{**ARGS, "max_token": 9}, **VOKER)
    assert reply.content[0].text == "Echo: hello there world"
    assert len(fake_llm.requests) == 1
    assert fake_llm.requests[0].body["messages"] == MESSAGES
    assert one_event(voker_client, voker_server)["properties"]["inputs"]["messages"] == MESSAGES


def test_a_failing_before_send_never_reaches_the_caller(fake_llm: Any, voker_server: Any) -> None:
    def before_send(event: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("bug in the user's hook")

    with VokerClient(
        api_key="test-key", base_url=voker_server.base_url, before_send=before_send
    ) as voker_client:
        with wrapped(fake_llm, voker_client) as client:
            message = client.messages.create(**ARGS, **VOKER)
            with client.messages.stream(**ARGS, **VOKER) as stream:
                text = stream.get_final_text()
        assert voker_client.flush(10)
    assert message.content[0].text == text == "Echo: hello there world"
    assert voker_server.events(event_name="llm") == []


async def test_a_broken_voker_client_never_reaches_the_caller(fake_llm: Any) -> None:
    broken: Any = BrokenVokerClient()
    with wrapped(fake_llm, broken) as client:
        assert client.messages.create(**ARGS, **VOKER).content[0].text == "Echo: hello there world"
        assert len(list(client.messages.create(**ARGS, **VOKER, stream=True))) > 3
    async with awrapped(fake_llm, broken) as aclient:
        async with aclient.messages.stream(**ARGS, **VOKER) as stream:
            assert await stream.get_final_text() == "Echo: hello there world"


def test_the_wrapped_clients_are_the_providers(fake_llm: Any, voker_client: Any) -> None:
    client = wrapped(fake_llm, voker_client)
    aclient = awrapped(fake_llm, voker_client)
    assert isinstance(client, anthropic.Anthropic) and isinstance(aclient, anthropic.AsyncAnthropic)
    assert isinstance(client.messages, anthropic.resources.Messages)
    assert isinstance(client.beta.messages, anthropic.resources.beta.Messages)
    assert isinstance(aclient.messages, anthropic.resources.AsyncMessages)
    # Unwrapped surfaces are the provider's own.
    assert type(client.models) is anthropic.resources.Models
    client.close()


def test_with_options_and_copy_keep_the_wrapping(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    with wrapped(fake_llm, voker_client) as client:
        for derived in (client.with_options(timeout=5.0), client.copy(max_retries=1)):
            assert isinstance(derived, Anthropic)
            derived.messages.create(**ARGS, **VOKER)
    assert len(llm_events(voker_client, voker_server)) == 2


async def test_async_with_options_keeps_the_wrapping(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    async with awrapped(fake_llm, voker_client) as client:
        derived = client.with_options(timeout=5.0)
        assert isinstance(derived, AsyncAnthropic)
        await derived.messages.create(**ARGS, **VOKER)
    assert len(llm_events(voker_client, voker_server)) == 1


def test_raw_responses_are_recorded(fake_llm: Any, voker_client: Any, voker_server: Any) -> None:
    with wrapped(fake_llm, voker_client) as client:
        raw = client.messages.with_raw_response.create(**ARGS, **VOKER)
        message = raw.parse()
        assert raw.headers["request-id"].startswith("req_fake")
    props = one_event(voker_client, voker_server)["properties"]
    assert props["output"]["content"][0]["text"] == message.content[0].text
    assert props["usage"]["output_tokens"] == message.usage.output_tokens


def test_the_default_client_is_used_without_voker_client(
    fake_llm: Any, default_voker_client: Any, voker_server: Any
) -> None:
    with Anthropic(**client_options(fake_llm)) as client:
        client.messages.create(**ARGS, **VOKER)
    one_event(default_voker_client, voker_server)


def test_the_sdk_credential_chain_still_applies(
    fake_llm: Any, voker_client: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # The SDK runs its credential chain (profiles, workload identity) only for its own client
    # class, not for subclasses: a drop-in must authenticate as the SDK's client does, copies
    # included. A profile with an externally rotated token, as a login sidecar writes it:
    (tmp_path / "configs").mkdir()
    (tmp_path / "credentials").mkdir()
    config = {"authentication": {"type": "user_oauth"}, "base_url": fake_llm.anthropic_base_url}
    (tmp_path / "configs" / "dev.json").write_text(json.dumps(config))
    secret = tmp_path / "credentials" / "dev.json"
    token = {"type": "oauth_token", "access_token": "profile-token", "expires_at": 4102444800}
    secret.write_text(json.dumps(token))
    secret.chmod(0o600)
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANTHROPIC_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("ANTHROPIC_PROFILE", "dev")

    with anthropic.Anthropic(max_retries=0) as plain_client:
        plain_client.messages.create(**ARGS)
    assert fake_llm.last_request.header("authorization") == "Bearer profile-token"
    with Anthropic(max_retries=0, voker_client=voker_client) as client:
        for derived in (client, client.with_options(timeout=5.0)):
            derived.messages.create(**ARGS, **VOKER)
            assert fake_llm.last_request.header("authorization") == "Bearer profile-token"


def test_raw_streams_are_recorded(fake_llm: Any, voker_client: Any, voker_server: Any) -> None:
    with wrapped(fake_llm, voker_client) as client:
        raw = client.messages.with_raw_response.create(**ARGS, **VOKER, stream=True)
        stream = raw.parse()
        assert isinstance(stream, anthropic.Stream)
        events = list(stream)
        with client.messages.with_streaming_response.create(**ARGS, **VOKER) as response:
            message = response.parse()
    assert events[-1].type == "message_stop"
    first, second = llm_events(voker_client, voker_server)
    assert first["properties"]["stream"] is True
    assert first["properties"]["output"]["content"][0]["text"] == "Echo: hello there world"
    assert second["properties"]["output"]["content"][0]["text"] == message.content[0].text


async def test_arguments_the_sdk_checks_itself_record_nothing(
    fake_llm: Any, voker_client: Any, voker_server: Any
) -> None:
    """A non-streamed request whose max_tokens could take longer than the SDK allows is refused
    by the SDK (ValueError: use streaming) before any request: no call, so no event."""
    huge = {**ARGS, "max_tokens": 1_000_000}
    with pytest.raises(ValueError, match=r"[Ss]tream") as plain_error:
        anthropic.Anthropic(**client_options(fake_llm)).messages.create(**huge)
    with wrapped(fake_llm, voker_client) as client, pytest.raises(ValueError) as error:
        client.messages.create(**huge, **VOKER)
    async with awrapped(fake_llm, voker_client) as aclient:
        with pytest.raises(ValueError):
            await aclient.messages.create(**huge, **VOKER)
    assert str(error.value) == str(plain_error.value)
    assert fake_llm.requests == []
    assert voker_client.flush(10)
    assert voker_server.events(event_name="llm") == []
