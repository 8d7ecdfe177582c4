"""``llm`` events from chat models and LLMs: shape, usage, streaming, providers, content."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    FakeMessagesListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import PromptTemplate

from tests.delivery.conftest import run_python
from tests.langchain.models import (
    USAGE,
    FailingMidStreamModel,
    ProviderError,
    ScriptedChatModel,
    ScriptedLLM,
    reply,
)
from voker_core import VokerClient
from voker_langchain import VokerCallbackHandler

EXPECTED_USAGE = {
    "input_tokens": 20,
    "output_tokens": 7,
    "total_tokens": 27,
    "cache_read_input_tokens": 5,
    "cache_creation_input_tokens": None,
    "reasoning_tokens": 2,
}


def test_chat_model_call_records_one_llm_event(handler: Any, landed: Any) -> None:
    model = ScriptedChatModel(replies=[reply("Paris.")])
    messages = [SystemMessage("Be brief."), HumanMessage("Capital of France?")]

    result = model.invoke(
        messages, config={"callbacks": [handler], "metadata": {"voker_session": "s-llm"}}
    )

    assert result.content == "Paris."
    [event] = landed(1, session="s-llm")
    assert event["event_name"] == "llm"
    assert event["agent"] == "lc-agent"
    props = event["properties"]
    assert props["api"] == "langchain"
    assert props["provider"] == "scripted"
    assert props["model"] == "scripted-1-2025"  # the response's model wins over the requested
    assert props["inputs"]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"},
    ]
    assert props["inputs"]["model"] == "scripted-1"
    assert props["output"] == {"role": "assistant", "content": "Paris."}
    assert props["usage"] == EXPECTED_USAGE
    assert props["finish_reason"] == "stop"
    assert props["stream"] is False
    assert "time_to_first_token_ms" not in props
    assert props["error"] is None
    assert props["latency_ms"] >= 0
    assert props["started_at"].endswith("Z")
    # A model called on its own is the top of its trace.
    assert props["parent_run_id"] is None
    assert props["trace_id"] == props["run_id"]
    assert handler.open_runs == 0


def test_requested_model_when_the_response_names_none(handler: Any, landed: Any) -> None:
    model = GenericFakeChatModel(messages=iter([reply("ok")]))
    model.invoke("hi", config={"callbacks": [handler], "metadata": {"voker_session": "s-g"}})

    [event] = landed(1, session="s-g")
    props = event["properties"]
    assert props["provider"] == "genericfakechatmodel"  # LangChain's ls_provider
    assert props["model"] is None
    assert props["usage"]["input_tokens"] == USAGE["input_tokens"]
    assert props["inputs"]["messages"] == [{"role": "user", "content": "hi"}]


def test_fake_list_and_messages_list_models(handler: Any, landed: Any) -> None:
    config: Any = {"callbacks": [handler], "metadata": {"voker_session": "s-fakes"}}
    FakeListChatModel(responses=["from list"]).invoke("a", config=config)
    FakeMessagesListChatModel(responses=[reply("from messages")]).invoke("b", config=config)

    events = landed(2, session="s-fakes")
    outputs = [e["properties"]["output"]["content"] for e in events]
    assert outputs == ["from list", "from messages"]
    assert events[0]["properties"]["usage"] is None  # FakeListChatModel reports no usage
    assert events[1]["properties"]["usage"] == EXPECTED_USAGE


def test_messages_with_tool_calls_become_role_content_dicts(handler: Any, landed: Any) -> None:
    history = [
        HumanMessage("Where is order 7?"),
        AIMessage(
            content="",
            tool_calls=[{"id": "call_1", "name": "lookup_order", "args": {"order_id": "7"}}],
        ),
        ToolMessage(content="shipped", tool_call_id="call_1"),
    ]
    model = ScriptedChatModel(replies=[reply("It shipped.")])
    model.invoke(history, config={"callbacks": [handler], "metadata": {"voker_session": "s-m"}})

    [event] = landed(1, session="s-m")
    assert event["properties"]["inputs"]["messages"] == [
        {"role": "user", "content": "Where is order 7?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "call_1", "name": "lookup_order", "args": {"order_id": "7"}}],
        },
        {"role": "tool", "content": "shipped", "tool_call_id": "call_1"},
    ]


def test_stream_records_usage_and_time_to_first_token(handler: Any, landed: Any) -> None:
    model = ScriptedChatModel(replies=[reply("one two three")])
    config: Any = {"callbacks": [handler], "metadata": {"voker_session": "s-stream"}}

    text = "".join(str(chunk.content) for chunk in model.stream("count", config=config))

    assert text == "one two three"
    [event] = landed(1, session="s-stream")
    props = event["properties"]
    assert props["stream"] is True
    assert props["usage"] == EXPECTED_USAGE
    assert props["output"]["content"] == "one two three"
    assert 0 <= props["time_to_first_token_ms"] <= props["latency_ms"]
    assert props["model"] == "scripted-1-2025"
    assert handler.open_runs == 0


async def test_astream_records_usage(handler: Any, landed: Any) -> None:
    model = ScriptedChatModel(replies=[reply("async words")])
    config: Any = {"callbacks": [handler], "metadata": {"voker_session": "s-astream"}}

    chunks = [chunk async for chunk in model.astream("go", config=config)]

    assert "".join(str(c.content) for c in chunks) == "async words"
    [event] = landed(1, session="s-astream")
    props = event["properties"]
    assert props["stream"] is True
    assert props["usage"] == EXPECTED_USAGE
    assert props["time_to_first_token_ms"] is not None


def test_stream_stopped_early_is_recorded_once_without_error(handler: Any, landed: Any) -> None:
    model = ScriptedChatModel(replies=[reply("a b c d e f")])
    stream: Any = model.stream(
        "go", config={"callbacks": [handler], "metadata": {"voker_session": "s-early"}}
    )
    first = next(stream)
    stream.close()

    assert first.content == "a"
    [event] = landed(1, session="s-early")
    assert event["properties"]["error"] is None
    assert event["properties"]["output"]["content"] == "a"
    assert handler.open_runs == 0


def test_a_stream_still_open_at_exit_is_recorded(voker_server: Any) -> None:
    # A script that reads the first chunks and ends: the generator is still referenced when the
    # interpreter exits, and LangChain reports nothing. Recorded by the exit hook, before the
    # client's own delivers what is queued, as its reader closing it would have: what it
    # streamed, no error, latency up to the last chunk read.
    result = run_python(
        """
        import time
        from tests.langchain.models import ScriptedChatModel, reply
        from voker_langchain import VokerCallbackHandler

        handler = VokerCallbackHandler(agent="exit-agent", session="s-exit")
        model = ScriptedChatModel(replies=[reply("one two three")])
        stream = model.stream("count", {"callbacks": [handler]})
        print("first", next(stream).content, "open", handler.open_runs, flush=True)
        time.sleep(0.5)
        """,
        env={"VOKER_API_KEY": "k", "VOKER_BASE_URL": voker_server.base_url},
    )
    assert result.returncode == 0, result.stderr
    assert "first one open 1" in result.stdout
    [event] = voker_server.wait_for_events(1)
    props = event["properties"]
    assert event["session"] == "s-exit" and event["agent"] == "exit-agent"
    assert props["error"] is None
    assert props["stream"] is True
    assert props["output"] == {"role": "assistant", "content": "one"}
    assert props["inputs"]["messages"] == [{"role": "user", "content": "count"}]
    assert 0 <= props["time_to_first_token_ms"] <= props["latency_ms"] < 500
    assert "Traceback" not in result.stderr, result.stderr


class OpenAIShapedModel(ScriptedChatModel):
    """Reports usage only in ``llm_output["token_usage"]`` (OpenAI's names), as older
    integrations do."""

    def _generate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        return ChatResult(
            generations=[ChatGeneration(message=AIMessage("hi"))],
            llm_output={
                "model_name": "gpt-4.1-mini-2025",
                "token_usage": {
                    "prompt_tokens": 100,
                    "completion_tokens": 10,
                    "total_tokens": 110,
                    "prompt_tokens_details": {"cached_tokens": 40},
                    "completion_tokens_details": {"reasoning_tokens": 4},
                },
            },
        )


class AnthropicShapedModel(ScriptedChatModel):
    """Reports Anthropic's raw usage, whose input count leaves the cache out."""

    def _generate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        return ChatResult(
            generations=[ChatGeneration(message=AIMessage("hi"))],
            llm_output={
                "usage": {
                    "input_tokens": 10,
                    "output_tokens": 5,
                    "cache_read_input_tokens": 30,
                    "cache_creation_input_tokens": 60,
                }
            },
        )


@pytest.mark.parametrize(
    ("model", "usage"),
    [
        (
            OpenAIShapedModel(),
            {
                "input_tokens": 100,
                "output_tokens": 10,
                "total_tokens": 110,
                "cache_read_input_tokens": 40,
                "cache_creation_input_tokens": None,
                "reasoning_tokens": 4,
            },
        ),
        (
            AnthropicShapedModel(),
            {
                "input_tokens": 100,
                "output_tokens": 5,
                "total_tokens": 105,
                "cache_read_input_tokens": 30,
                "cache_creation_input_tokens": 60,
                "reasoning_tokens": None,
            },
        ),
    ],
    ids=["openai", "anthropic"],
)
def test_usage_from_llm_output_follows_the_one_rule(
    handler: Any, landed: Any, model: Any, usage: dict[str, Any]
) -> None:
    model.invoke("hi", config={"callbacks": [handler], "metadata": {"voker_session": "s-u"}})

    [event] = landed(1, session="s-u")
    assert event["properties"]["usage"] == usage


def test_text_llm_records_prompt_and_completion(handler: Any, landed: Any) -> None:
    llm = FakeListLLM(responses=["forty-two"])
    llm.invoke(
        "meaning of life?", config={"callbacks": [handler], "metadata": {"voker_session": "s-text"}}
    )

    [event] = landed(1, session="s-text")
    props = event["properties"]
    assert props["api"] == "langchain"
    assert props["inputs"]["prompt"] == "meaning of life?"
    assert props["output"] == "forty-two"


COMPLETION_USAGE = {
    "input_tokens": 8,
    "output_tokens": 4,
    "total_tokens": 12,
    "cache_read_input_tokens": None,
    "cache_creation_input_tokens": None,
    "reasoning_tokens": None,
}


async def test_async_completion_model_calls_are_recorded_when_they_end(
    handler: Any, landed: Any
) -> None:
    # BaseLLM.agenerate delivers on_llm_start from a task of its own (asyncio.gather) that ends
    # at once: that is not the end of the call, which goes on in the caller's task.
    llm = ScriptedLLM()
    config: Any = {"callbacks": [handler], "metadata": {"voker_session": "s-allm"}}

    assert await llm.ainvoke("one", config=config) == "completion: one"
    assert await llm.abatch(["two", "three"], config=config) == [
        "completion: two",
        "completion: three",
    ]
    assert [chunk async for chunk in llm.astream("four", config=config)] == ["completion: four"]

    events = landed(4, session="s-allm")
    by_prompt = {e["properties"]["inputs"]["prompt"]: e["properties"] for e in events}
    assert sorted(by_prompt) == ["four", "one", "three", "two"]
    for prompt, props in by_prompt.items():
        assert props["error"] is None, props["error"]
        assert props["output"] == f"completion: {prompt}"
        assert props["model"] == "scripted-instruct"
    assert by_prompt["one"]["usage"] == by_prompt["four"]["usage"] == COMPLETION_USAGE
    # A batch's usage is reported once, on its first prompt (see docs/langchain.md).
    assert [by_prompt["two"]["usage"], by_prompt["three"]["usage"]] == [COMPLETION_USAGE, None]
    assert handler.open_runs == 0


async def test_async_completion_model_in_a_chain_and_failing(handler: Any, landed: Any) -> None:
    chain = PromptTemplate.from_template("say {x}") | ScriptedLLM()
    config: Any = {"callbacks": [handler], "metadata": {"voker_session": "s-allm-chain"}}
    assert await chain.ainvoke({"x": "hi"}, config=config) == "completion: say hi"

    events = landed(2, session="s-allm-chain")
    llm = next(e["properties"] for e in events if e["event_name"] == "llm")
    root = next(e["properties"] for e in events if e["event_name"] == "chain")
    assert llm["error"] is None and llm["output"] == "completion: say hi"
    assert llm["usage"] == COMPLETION_USAGE
    assert llm["parent_run_id"] == root["run_id"] == llm["trace_id"]

    with pytest.raises(ProviderError):
        await ScriptedLLM(fail_status=503).ainvoke(
            "hi", config={"callbacks": [handler], "metadata": {"voker_session": "s-allm-err"}}
        )
    [failed] = landed(1, session="s-allm-err")
    assert failed["properties"]["error"] == {
        "type": "ProviderError",
        "message": "the provider is overloaded",
        "status_code": 503,
    }
    assert handler.open_runs == 0


def test_model_error_is_recorded_and_raised(handler: Any, landed: Any) -> None:
    model = ScriptedChatModel(fail_status=529)
    with pytest.raises(Exception, match="overloaded") as raised:
        model.invoke("hi", config={"callbacks": [handler], "metadata": {"voker_session": "s-err"}})

    assert type(raised.value).__name__ == "ProviderError"
    [event] = landed(1, session="s-err")
    assert event["properties"]["error"] == {
        "type": "ProviderError",
        "message": "the provider is overloaded",
        "status_code": 529,
    }
    assert event["properties"]["output"] is None
    assert handler.open_runs == 0


async def test_a_failed_async_call_has_no_output(handler: Any, landed: Any) -> None:
    # The provider's error carries its HTTP response, which LangChain adds to the failed call's
    # result as an empty AI message: not a reply of the model's.
    model = ScriptedChatModel(fail_status=429)
    with pytest.raises(ProviderError):
        await model.ainvoke(
            "hi", config={"callbacks": [handler], "metadata": {"voker_session": "s-aerr"}}
        )

    [event] = landed(1, session="s-aerr")
    assert event["properties"]["error"]["status_code"] == 429
    assert event["properties"]["output"] is None


def test_a_stream_failing_midway_keeps_what_it_streamed_as_its_one_output(
    handler: Any, landed: Any
) -> None:
    model = FailingMidStreamModel(
        chunks=[AIMessageChunk(content="Hello"), AIMessageChunk(content=" there")]
    )
    seen = []
    with pytest.raises(ProviderError, match="upstream connection reset"):
        for chunk in model.stream(
            "hi", config={"callbacks": [handler], "metadata": {"voker_session": "s-midway"}}
        ):
            seen.append(chunk.content)
    assert seen == ["Hello", " there"]

    [event] = landed(1, session="s-midway")
    props = event["properties"]
    assert props["error"]["status_code"] == 502
    assert props["stream"] is True
    # One message, as the caller saw it; not a second, empty "choice" for the error's details.
    assert props["output"] == {"role": "assistant", "content": "Hello there"}
    assert handler.open_runs == 0


def test_capture_content_off_keeps_metadata_only(voker_server: Any) -> None:
    with VokerClient(api_key="k", base_url=voker_server.base_url, capture_content=False) as client:
        handler = VokerCallbackHandler(agent="a", session="s-private", client=client)
        ScriptedChatModel(replies=[reply("secret answer")]).invoke(
            "secret question", config={"callbacks": [handler]}
        )
        assert client.flush(10)

    [event] = voker_server.wait_for_events(1, session="s-private")
    props = event["properties"]
    assert "inputs" not in props and "output" not in props
    assert "secret" not in str(props)
    assert props["usage"] == EXPECTED_USAGE
    assert props["model"] == "scripted-1-2025"


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"stop_reason": "end_turn"}, "stop"),  # Anthropic's words
        ({"stop_reason": "tool_use"}, "tool_calls"),
        ({"finish_reason": "MAX_TOKENS"}, "length"),  # Gemini's
        ({"finish_reason": "content_filter"}, "content_filter"),  # OpenAI's
    ],
)
def test_finish_reason_uses_the_one_vocabulary_of_the_wrappers(
    handler: Any, landed: Any, metadata: dict[str, str], expected: str
) -> None:
    model = GenericFakeChatModel(messages=iter([AIMessage("ok", response_metadata=metadata)]))
    model.invoke("hi", config={"callbacks": [handler], "metadata": {"voker_session": "s-fr"}})
    [event] = landed(1, session="s-fr")
    assert event["properties"]["finish_reason"] == expected


@pytest.mark.parametrize("doc", ["events.md", "decisions.md"])
def test_the_docs_say_langchain_finish_reasons_are_normalised(doc: str) -> None:
    # They once promised the model's own value (``end_turn``), which the handler never sent.
    text = (Path(__file__).parents[2] / "docs" / doc).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if "finish_reason" in line]
    assert any("normalised" in line for line in lines), lines
    assert not any("own value" in line for line in lines), lines
