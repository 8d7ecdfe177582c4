"""The shared ``llm`` recorder: what the caller's thread records now and what it defers to the
delivery thread (translating the provider's response), against the devserver."""

from __future__ import annotations

import threading
import time
import types
from collections.abc import Iterator
from typing import Any

import pytest

from voker_core.ai._recorder import LLMCall, Outcome, Usage, stainless_request_code
from voker_core.ai._streams import StreamRecorder

VOKER = {"voker_agent": "recorder-agent", "voker_session": "recorder-session"}


def _stored(voker_client: Any, voker_server: Any) -> list[dict[str, Any]]:
    assert voker_client.flush(10)
    return voker_server.events(event_name="llm")


def _begin(voker_client: Any, **kwargs: Any) -> LLMCall:
    return LLMCall.begin(
        api="test-api",
        provider="test",
        kwargs={**VOKER, "model": "m-1", "messages": [{"role": "user", "content": "hi"}], **kwargs},
        voker_client=voker_client,
    )


def test_the_response_is_translated_on_the_delivery_thread(
    voker_client: Any, voker_server: Any
) -> None:
    caller = threading.get_ident()
    translated_on: list[int] = []

    def translate(response: dict[str, Any]) -> Outcome:
        translated_on.append(threading.get_ident())
        return Outcome(
            output={"text": response["text"]},
            model="m-1-2026",
            usage=Usage.from_counts(input_tokens=3, output_tokens=2),
            finish_reason="stop",
        )

    call = _begin(voker_client)
    call.succeed_with({"text": "hello"}, translate)
    (event,) = _stored(voker_client, voker_server)
    assert translated_on and translated_on[0] != caller
    props = event["properties"]
    assert props["output"] == {"text": "hello"}
    assert props["model"] == "m-1-2026"
    assert props["usage"]["total_tokens"] == 5
    assert props["finish_reason"] == "stop"
    assert props["inputs"]["messages"] == [{"role": "user", "content": "hi"}]
    assert event["session"] == "recorder-session" and event["agent"] == "recorder-agent"


def test_a_failing_translation_still_records_the_call_without_output(
    voker_client: Any, voker_server: Any, caplog: Any
) -> None:
    def translate(response: Any) -> Outcome:
        raise RuntimeError("unexpected response shape")

    call = _begin(voker_client)
    call.succeed_with(object(), translate)  # returns normally: nothing reaches the caller
    (event,) = _stored(voker_client, voker_server)
    props = event["properties"]
    assert props["output"] is None and props["usage"] is None
    assert props["model"] == "m-1"  # the requested model
    assert props["latency_ms"] >= 0 and props["error"] is None
    assert "unexpected response shape" in caplog.text


def test_inputs_and_properties_are_copied_when_the_call_begins(
    voker_client: Any, voker_server: Any
) -> None:
    messages = [{"role": "user", "content": "hi"}]
    properties = {"tags": ["a"]}
    call = _begin(voker_client, messages=messages, voker_properties=properties)
    messages.append({"role": "assistant", "content": "later"})
    properties["tags"].append("b")
    call.succeed_with({"text": "x"}, lambda response: Outcome(output=response))
    props = _stored(voker_client, voker_server)[0]["properties"]
    assert props["inputs"]["messages"] == [{"role": "user", "content": "hi"}]
    assert props["tags"] == ["a"]


def test_a_call_records_once_however_it_ends(voker_client: Any, voker_server: Any) -> None:
    call = _begin(voker_client)
    call.succeed_with({"text": "x"}, lambda response: Outcome(output=response))
    call.fail(RuntimeError("late"))
    call.succeed(output="again")
    assert len(_stored(voker_client, voker_server)) == 1


class _WordStream(StreamRecorder):
    """A provider-neutral recorder: items are words, the output is their text."""

    def has_content(self, item: Any) -> bool:
        return bool(item.strip())

    def outcome(self) -> Outcome:
        return Outcome(output={"text": "".join(self.items)}, finish_reason="stop")


def test_a_stream_keeps_items_and_finds_the_first_token_on_the_delivery_thread(
    voker_client: Any, voker_server: Any
) -> None:
    def words() -> Iterator[str]:
        yield ""
        yield " "
        time.sleep(0.05)
        yield "Hello"  # the first token, 50 ms in
        time.sleep(0.05)
        yield " world"  # the last item, 100 ms in

    call = _begin(voker_client, stream=True)
    recorder = _WordStream(call)
    seen = list(recorder.wrap(words()))
    assert seen == ["", " ", "Hello", " world"]  # the caller gets every item
    (event,) = _stored(voker_client, voker_server)
    props = event["properties"]
    assert props["output"] == {"text": " Hello world"}
    assert props["stream"] is True
    assert 50 <= props["time_to_first_token_ms"] < 95
    assert props["latency_ms"] >= 100
    assert recorder.items == []  # let go once the event was built


def test_a_failing_first_token_check_keeps_the_streams_output(
    voker_client: Any, voker_server: Any, caplog: Any
) -> None:
    class Broken(_WordStream):
        def has_content(self, item: Any) -> bool:
            raise RuntimeError("cannot read this item")

    call = _begin(voker_client, stream=True)
    assert list(Broken(call).wrap(iter(["a", "b"]))) == ["a", "b"]
    (event,) = _stored(voker_client, voker_server)
    props = event["properties"]
    assert props["output"] == {"text": "ab"} and props["finish_reason"] == "stop"
    assert props["time_to_first_token_ms"] is None
    assert "cannot read this item" in caplog.text


# -- calls the SDK refuses before any request ----------------------------------------------------


def _request(body: dict[str, Any]) -> str:
    """Stands for a provider SDK's request method: the network fails."""
    raise ConnectionError(f"could not send {body}")


async def _arequest(body: dict[str, Any]) -> str:
    raise ConnectionError(f"could not send {body}")


REQUEST_CODE = frozenset({_request.__code__, _arequest.__code__})


def _create(*, model: str, checked: bool) -> str:
    """Stands for an SDK method: checks an argument itself, then makes the request."""
    if not checked:
        raise ValueError("the SDK refuses this argument")
    return _request({"model": model})


async def _acreate(*, model: str, checked: bool) -> str:
    if not checked:
        raise ValueError("the SDK refuses this argument")
    return await _arequest({"model": model})


def test_a_call_failing_before_the_sdks_request_records_nothing(
    voker_client: Any, voker_server: Any
) -> None:
    for checked in (False, True):
        with pytest.raises((ValueError, ConnectionError)):
            _begin(voker_client).invoke(_create, {"model": "m-1", "checked": checked}, REQUEST_CODE)
    # Without the SDK's request code the check is off: every failure is recorded.
    with pytest.raises(ValueError):
        _begin(voker_client).invoke(_create, {"model": "m-1", "checked": False})
    errors = [e["properties"]["error"]["type"] for e in _stored(voker_client, voker_server)]
    assert errors == ["ConnectionError", "ValueError"]


async def test_an_async_call_failing_before_the_sdks_request_records_nothing(
    voker_client: Any, voker_server: Any
) -> None:
    for checked in (False, True):
        with pytest.raises((ValueError, ConnectionError)):
            await _begin(voker_client).ainvoke(
                _acreate, {"model": "m-1", "checked": checked}, REQUEST_CODE
            )
    (event,) = _stored(voker_client, voker_server)
    assert event["properties"]["error"]["type"] == "ConnectionError"


def test_stainless_sdks_request_code() -> None:
    base = pytest.importorskip("openai._base_client")
    assert stainless_request_code(base) == {
        base.SyncAPIClient.request.__code__,
        base.AsyncAPIClient.request.__code__,
    }
    assert stainless_request_code(types.ModuleType("not_an_sdk")) == frozenset()
