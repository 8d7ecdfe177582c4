"""The Gemini translation rules on SDK objects the fake server does not produce: thought parts
in streams, tool-use prompt tokens, several candidates."""

from __future__ import annotations

from google.genai import types

from voker_core.ai._gemini.translate import ChunkStreamRecorder, usage_of
from voker_core.ai._recorder import LLMCall
from voker_core.serialize import to_jsonable


def _chunk(*parts: types.Part, finish: str | None = None, usage: dict[str, int] | None = None):  # type: ignore[no-untyped-def]
    return types.GenerateContentResponse(
        candidates=[
            types.Candidate(
                index=0,
                content=types.Content(role="model", parts=list(parts)),
                finish_reason=finish,
            )
        ],
        usage_metadata=types.GenerateContentResponseUsageMetadata(**usage) if usage else None,
        model_version="gemini-2.5-pro-001",
    )


def test_streamed_thoughts_text_and_calls_are_merged_in_order() -> None:
    chunks = [
        _chunk(types.Part(text="Let me ", thought=True), usage={"prompt_token_count": 9}),
        _chunk(types.Part(text="think.", thought=True)),
        _chunk(types.Part(text="The answer ")),
        _chunk(types.Part(text="is 4.")),
        _chunk(
            types.Part(function_call=types.FunctionCall(name="log", args={"n": 4})),
            finish="STOP",
            usage={
                "prompt_token_count": 9,
                "candidates_token_count": 6,
                "thoughts_token_count": 3,
                "total_token_count": 18,
            },
        ),
    ]
    call = LLMCall.begin(
        api="gemini-models",
        provider="gemini",
        kwargs={"model": "gemini-2.5-pro", "voker_agent": "a", "voker_session": "s"},
    )
    recorder = ChunkStreamRecorder(call)
    for chunk in chunks:
        recorder.observe(chunk)
    outcome = recorder.outcome()
    assert outcome.finish_reason == "tool_calls"  # STOP after a function call
    assert outcome.model == "gemini-2.5-pro-001"
    assert outcome.usage is not None and outcome.usage.output_tokens == 9
    merged = to_jsonable({"output": outcome.output})["output"]  # as the delivery worker does
    assert merged["candidates"] == [
        {
            "index": 0,
            "finish_reason": "STOP",
            "content": {
                "role": "model",
                "parts": [
                    {"text": "Let me think.", "thought": True},
                    {"text": "The answer is 4."},
                    {"function_call": {"name": "log", "args": {"n": 4}}},
                ],
            },
        }
    ]
    assert merged["usage_metadata"]["total_token_count"] == 18  # the last chunk's, not a sum
    assert merged["model_version"] == "gemini-2.5-pro-001"


def test_usage_counts_tool_prompts_as_input_and_thoughts_as_output() -> None:
    usage = usage_of(
        types.GenerateContentResponseUsageMetadata(
            prompt_token_count=100,  # includes the 40 cached ones
            cached_content_token_count=40,
            tool_use_prompt_token_count=20,
            candidates_token_count=30,
            thoughts_token_count=12,
            total_token_count=162,
        )
    )
    assert usage is not None
    assert usage.as_dict() == {
        "input_tokens": 120,
        "output_tokens": 42,
        "total_tokens": 162,
        "cache_read_input_tokens": 40,
        "cache_creation_input_tokens": None,
        "reasoning_tokens": 12,
    }
    assert usage_of(None) is None
