"""Reading ``llm`` events of every provider shape as a conversation turn (pure functions).

The page tests cover the demo's shapes end to end; these cover the other shapes the wrappers
record (docs/events.md), and that no JSON at all makes the reader or the session page fail.
"""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from voker_core.devserver.dashboard.layout import Paging
from voker_core.devserver.dashboard.markup import Links
from voker_core.devserver.dashboard.session_page import render_session_page
from voker_core.devserver.dashboard.transcript import Message, ToolCall, read_llm_event


def _kinds(messages: list[Message]) -> list[str]:
    return [m.role for m in messages]


def test_openai_chat_new_turn_is_after_the_last_answer() -> None:
    turn = read_llm_event(
        {
            "inputs": {
                "messages": [
                    {"role": "developer", "content": "Be brief."},
                    {"role": "user", "content": "one"},
                    {"role": "assistant", "content": "1"},
                    {"role": "user", "content": [{"type": "text", "text": "two"}]},
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]},
                ]
            },
            "output": {"choices": [{"message": {"role": "assistant", "content": "2"}}]},
        }
    )
    assert turn.system == "Be brief."
    assert turn.prompt == [Message("user", "two"), Message("user", "[image]")]
    assert turn.earlier == 2
    assert turn.answer == [Message("assistant", "2")]


def test_openai_refusal_and_legacy_function_call() -> None:
    turn = read_llm_event(
        {
            "inputs": {"messages": [{"role": "user", "content": "x"}]},
            "output": {
                "choices": [
                    {
                        "message": {
                            "content": None,
                            "refusal": "I can't help with that.",
                            "function_call": {"name": "f", "arguments": '{"a": 1}'},
                        }
                    }
                ]
            },
        }
    )
    assert turn.answer == [
        Message("assistant", "I can't help with that.", (ToolCall("f", '{"a": 1}'),))
    ]


def test_openai_responses_items() -> None:
    turn = read_llm_event(
        {
            "inputs": {
                "instructions": "Use tools.",
                "input": [
                    {"role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
                    {
                        "type": "function_call",
                        "call_id": "c1",
                        "name": "get_weather",
                        "arguments": '{"city":"Oslo"}',
                    },
                    {"type": "function_call_output", "call_id": "c1", "output": "-3 \u00b0C"},
                ],
            },
            "output": {
                "output": [
                    {"type": "reasoning", "summary": [{"type": "summary_text", "text": "cold"}]},
                    {
                        "type": "message",
                        "content": [{"type": "output_text", "text": "Wear a coat."}],
                    },
                    {"type": "web_search_call", "action": {"query": "oslo"}},
                ]
            },
        }
    )
    assert turn.system == "Use tools."
    assert turn.prompt == [Message("tool", "-3 \u00b0C", call_id="c1")]
    assert turn.answer == [
        Message("reasoning", "cold"),
        Message("assistant", "Wear a coat.", (ToolCall("web_search_call", '{"query": "oslo"}'),)),
    ]


def test_openai_responses_plain_string_input_and_output_text() -> None:
    turn = read_llm_event(
        {"inputs": {"input": "hello"}, "output": {"output": [], "output_text": "hi!"}}
    )
    assert turn.prompt == [Message("user", "hello")]
    assert turn.answer == [Message("assistant", "hi!")]


def test_anthropic_blocks_thinking_and_failed_tool_result() -> None:
    turn = read_llm_event(
        {
            "inputs": {
                "system": "sys",
                "messages": [
                    {"role": "user", "content": "run it"},
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t1", "name": "sh", "input": {}}],
                    },
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "tool_result",
                                "tool_use_id": "t1",
                                "is_error": True,
                                "content": [{"type": "text", "text": "exit 1"}],
                            },
                            {"type": "text", "text": "why?"},
                        ],
                    },
                ],
            },
            "output": {
                "type": "message",
                "content": [
                    {"type": "thinking", "thinking": "look at exit code"},
                    {"type": "text", "text": "It failed."},
                ],
            },
        }
    )
    assert turn.system == "sys"
    assert turn.prompt == [
        Message("tool", "exit 1", call_id="t1", is_error=True),
        Message("user", "why?"),
    ]
    assert turn.answer == [Message("assistant", "(thinking) look at exit code\nIt failed.")]


def test_gemini_shapes() -> None:
    camel = read_llm_event(
        {
            "inputs": {
                "contents": [
                    {"role": "user", "parts": [{"text": "a"}]},
                    {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"x": 1}}}]},
                    {
                        "role": "user",
                        "parts": [{"functionResponse": {"name": "f", "response": {"y": 2}}}],
                    },
                ],
                "config": {"systemInstruction": {"parts": [{"text": "sys"}]}},
            },
            "output": {
                "candidates": [
                    {"content": {"parts": [{"text": "hmm", "thought": True}, {"text": "done"}]}}
                ]
            },
        }
    )
    assert camel.system == "sys"
    assert camel.prompt == [Message("tool", '{"y": 2}', name="f")]
    assert camel.answer == [Message("reasoning", "hmm"), Message("assistant", "done")]

    assert read_llm_event({"inputs": {"contents": "just text"}}).prompt == [
        Message("user", "just text")
    ]
    strings = read_llm_event({"inputs": {"contents": ["one", "two"]}})
    assert strings.prompt == [Message("user", "one\ntwo")]


def test_langchain_messages_prompt_and_multiple_generations() -> None:
    chat = read_llm_event(
        {
            "inputs": {
                "messages": [
                    {"role": "system", "content": "s"},
                    {"role": "user", "content": "q"},
                    {"role": "assistant", "content": "", "tool_calls": [{"id": "1", "name": "t"}]},
                    {"role": "tool", "content": "r", "tool_call_id": "1", "status": "error"},
                ]
            },
            "output": [{"role": "assistant", "content": "first"}, {"content": "second"}],
        }
    )
    assert chat.prompt == [Message("tool", "r", call_id="1", is_error=True)]
    assert chat.answer == [Message("assistant", "first")]

    llm = read_llm_event({"inputs": {"prompt": "Once upon"}, "output": "a time"})
    assert llm.prompt == [Message("user", "Once upon")]
    assert llm.answer == [Message("assistant", "a time")]


def test_content_not_captured() -> None:
    turn = read_llm_event({"api": "openai-chat-completions", "usage": None})
    assert (turn.system, turn.prompt, turn.answer, turn.earlier) == (None, [], [], 0)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "role",
                    "content",
                    "type",
                    "text",
                    "messages",
                    "input",
                    "contents",
                    "parts",
                    "tool_calls",
                    "function",
                    "name",
                    "arguments",
                    "output",
                    "choices",
                    "message",
                    "candidates",
                    "function_call",
                    "summary",
                    "system",
                    "config",
                    "prompt",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(inputs=_json, output=_json)
def test_any_json_reads_without_error(inputs: Any, output: Any) -> None:
    turn = read_llm_event({"inputs": inputs, "output": output})
    for message in [*turn.prompt, *turn.answer]:
        assert isinstance(message.text, str)


_properties = st.dictionaries(
    st.sampled_from(
        [
            "inputs",
            "output",
            "usage",
            "error",
            "latency_ms",
            "time_to_first_token_ms",
            "model",
            "provider",
            "stream",
            "finish_reason",
            "started_at",
            "name",
            "input",
            "outputs",
            "query",
            "document_count",
            "run_id",
            "trace_id",
            "tool_call_id",
        ]
    ),
    _json,
    max_size=8,
)


@settings(max_examples=40, deadline=None)
@example(events=[("chain", {"outputs": [{"role": None, "content": None, "type": []}]})])
@given(
    events=st.lists(
        st.tuples(st.sampled_from(["llm", "tool", "retriever", "chain", "custom"]), _properties),
        min_size=1,
        max_size=3,
    )
)
def test_any_event_properties_render(events: list[tuple[str, dict[str, Any]]]) -> None:
    stored = [
        {
            "event_id": str(index),
            "event_name": name,
            "properties": properties,
            "session": "s",
            "agent": None,
            "agent_version": None,
            "person": None,
            "fingerprint_id": "f",
            "created_at": "2026-01-01T00:00:00Z",
        }
        for index, (name, properties) in enumerate(events)
    ]
    summary = {"session": "s", "event_count": len(stored)}
    page = render_session_page(
        summary, stored, paging=Paging(1, 100, len(stored)), links=Links(None), href=str
    )
    assert page.count("<article") == len(stored)
