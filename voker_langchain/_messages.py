"""Turn LangChain objects into the plain shapes Voker events carry.

* messages become ``{"role", "content"}`` dicts (``tool_calls`` on assistant messages,
  ``tool_call_id`` on tool results), the shape the dashboard reads for every provider;
* an :class:`~langchain_core.outputs.LLMResult` gives the output, model, usage and finish reason
  of one model call;
* usage in any of the shapes LangChain integrations report is normalised by the one rule of
  :class:`voker_core.ai._recorder.Usage` (``input_tokens`` counts cached tokens too).

Everything here builds *new* containers, so the result is also a snapshot: the application may
mutate its message lists afterwards without changing what is sent. Objects this module does not
know are left as they are; the Voker client serialises them on its worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.documents import Document
from langchain_core.messages import AIMessage, BaseMessage, ChatMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from voker_core._snapshot import snapshot
from voker_core.ai._recorder import Usage, normalise_finish_reason

__all__ = [
    "LLMOutcome",
    "convert",
    "message_to_dict",
    "outcome_from_result",
    "usage_from_mapping",
    "usage_from_metadata",
]

# LangChain message types -> the roles every provider (and the dashboard) uses.
_ROLES = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "function",
    "developer": "developer",
}

_MAX_DEPTH = 32


def _role(message: BaseMessage) -> str:
    if isinstance(message, ChatMessage):
        return message.role
    kind = message.type
    if kind.endswith("MessageChunk"):  # chunk classes report e.g. "AIMessageChunk"
        kind = kind[: -len("MessageChunk")].lower()
    return _ROLES.get(kind, kind)


def message_to_dict(message: BaseMessage) -> dict[str, Any]:
    """``HumanMessage("hi")`` -> ``{"role": "user", "content": "hi"}`` (and so on).

    Assistant messages keep their tool calls as LangChain reports them (``{"id", "name",
    "args"}``); tool messages keep ``tool_call_id`` (and ``status`` when the tool failed).
    """
    out: dict[str, Any] = {"role": _role(message), "content": snapshot(message.content)}
    if message.name:
        out["name"] = message.name
    if isinstance(message, AIMessage):
        if message.tool_calls:
            out["tool_calls"] = [
                {"id": call.get("id"), "name": call.get("name"), "args": snapshot(call.get("args"))}
                for call in message.tool_calls
            ]
        if message.invalid_tool_calls:
            out["invalid_tool_calls"] = snapshot(list(message.invalid_tool_calls))
    elif isinstance(message, ToolMessage):
        out["tool_call_id"] = message.tool_call_id
        if message.status != "success":
            out["status"] = message.status
    return out


def convert(value: Any, _depth: int = 0) -> Any:
    """Copy ``value``, turning messages into role/content dicts and documents into dicts.

    Dicts, lists and tuples are rebuilt (a snapshot); other objects are kept as they are.
    """
    if _depth >= _MAX_DEPTH:
        return value
    if isinstance(value, BaseMessage):
        return message_to_dict(value)
    if isinstance(value, Document):
        return {"page_content": value.page_content, "metadata": snapshot(value.metadata)}
    if isinstance(value, dict):
        return {key: convert(item, _depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [convert(item, _depth + 1) for item in value]
    return value


# -- usage ---------------------------------------------------------------------------------------


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def usage_from_metadata(usage: Mapping[str, Any]) -> Usage:
    """LangChain's ``UsageMetadata``: ``input_tokens`` already includes cache reads/creations."""
    inputs = usage.get("input_token_details") or {}
    outputs = usage.get("output_token_details") or {}
    return Usage.from_counts(
        input_tokens=usage.get("input_tokens"),
        output_tokens=usage.get("output_tokens"),
        total_tokens=usage.get("total_tokens"),
        cache_read_input_tokens=_get(inputs, "cache_read"),
        cache_creation_input_tokens=_get(inputs, "cache_creation"),
        reasoning_tokens=_get(outputs, "reasoning"),
    )


def usage_from_mapping(raw: Any) -> Usage | None:
    """Usage in a provider's own shape, as integrations put it in ``llm_output``.

    Recognises OpenAI (``prompt_tokens``...), Anthropic (``input_tokens`` without the cache,
    plus ``cache_*_input_tokens``), Gemini (``prompt_token_count``...) and LangChain's own
    ``UsageMetadata``. Returns ``None`` for anything else.
    """
    if _get(raw, "prompt_tokens") is not None or _get(raw, "completion_tokens") is not None:
        return Usage.from_counts(
            input_tokens=_get(raw, "prompt_tokens"),
            output_tokens=_get(raw, "completion_tokens"),
            total_tokens=_get(raw, "total_tokens"),
            cache_read_input_tokens=_get(_get(raw, "prompt_tokens_details"), "cached_tokens"),
            reasoning_tokens=_get(_get(raw, "completion_tokens_details"), "reasoning_tokens"),
        )
    if _get(raw, "prompt_token_count") is not None:
        candidates = _get(raw, "candidates_token_count")
        thoughts = _get(raw, "thoughts_token_count")
        output = None
        if candidates is not None or thoughts is not None:
            # Gemini counts thinking apart from the answer; our rule puts it inside output.
            output = int(candidates or 0) + int(thoughts or 0)
        return Usage.from_counts(
            input_tokens=_get(raw, "prompt_token_count"),
            output_tokens=output,
            total_tokens=_get(raw, "total_token_count"),
            cache_read_input_tokens=_get(raw, "cached_content_token_count"),
            reasoning_tokens=thoughts,
        )
    if _get(raw, "input_tokens") is not None or _get(raw, "output_tokens") is not None:
        if isinstance(raw, Mapping) and (
            "input_token_details" in raw or "output_token_details" in raw
        ):
            return usage_from_metadata(raw)
        anthropic = (
            _get(raw, "cache_read_input_tokens") is not None
            or _get(raw, "cache_creation_input_tokens") is not None
        )
        return Usage.from_counts(
            input_tokens=_get(raw, "input_tokens"),
            output_tokens=_get(raw, "output_tokens"),
            total_tokens=_get(raw, "total_tokens"),
            cache_read_input_tokens=_get(raw, "cache_read_input_tokens"),
            cache_creation_input_tokens=_get(raw, "cache_creation_input_tokens"),
            input_excludes_cache=anthropic,
        )
    return None


# -- one model call's result ---------------------------------------------------------------------


class LLMOutcome:
    """What an ``LLMResult`` says about one model call."""

    __slots__ = ("finish_reason", "model", "output", "provider", "usage")

    def __init__(self) -> None:
        self.output: Any = None
        self.model: str | None = None
        self.provider: str | None = None
        self.usage: Usage | None = None
        self.finish_reason: str | None = None


def _first_str(*values: Any) -> str | None:
    for value in values:
        if isinstance(value, str) and value:
            return value
    return None


def outcome_from_result(response: LLMResult | None) -> LLMOutcome:
    """Output, model, provider, usage and finish reason of one call (one prompt's result).

    The output is the assistant message as a role/content dict (chat models) or the completion
    text (LLMs); several generations (``n > 1``) give a list.
    """
    outcome = LLMOutcome()
    if response is None:
        return outcome
    generations = [g for gens in response.generations for g in gens]
    llm_output = response.llm_output if isinstance(response.llm_output, Mapping) else {}
    outputs: list[Any] = []
    for generation in generations:
        info = generation.generation_info or {}
        message = generation.message if isinstance(generation, ChatGeneration) else None
        meta: Mapping[str, Any] = message.response_metadata if message is not None else {}
        outputs.append(message_to_dict(message) if message is not None else generation.text)
        if outcome.usage is None:
            usage_md = getattr(message, "usage_metadata", None)
            if usage_md:
                outcome.usage = usage_from_metadata(usage_md)
            else:
                for key in ("token_usage", "usage", "usage_metadata"):
                    raw = meta.get(key) or info.get(key)
                    if raw:
                        outcome.usage = usage_from_mapping(raw)
                        break
        outcome.model = outcome.model or _first_str(meta.get("model_name"), meta.get("model"))
        outcome.provider = outcome.provider or _first_str(meta.get("model_provider"))
        outcome.finish_reason = outcome.finish_reason or normalise_finish_reason(
            _first_str(
                info.get("finish_reason"), meta.get("finish_reason"), meta.get("stop_reason")
            )
        )
    if outcome.usage is None:
        for key in ("token_usage", "usage"):
            raw = llm_output.get(key)
            if raw:
                outcome.usage = usage_from_mapping(raw)
                break
    outcome.model = _first_str(llm_output.get("model_name"), llm_output.get("model")) or (
        outcome.model
    )
    outcome.output = outputs[0] if len(outputs) == 1 else (outputs or None)
    return outcome
