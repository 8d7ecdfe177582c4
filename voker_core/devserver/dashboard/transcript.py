"""Read an ``llm`` event's ``inputs`` and ``output`` as a conversation, whatever the provider.

Providers shape messages differently (DESIGN §5, docs/events.md): OpenAI chat ``messages`` with
``tool_calls`` and ``role: tool``; Responses ``input``/``instructions`` and ``output`` items;
Anthropic ``system`` plus ``messages`` of content blocks (``text``, ``tool_use``,
``tool_result``, ``thinking``); Gemini ``contents`` of ``parts`` (``text``, ``function_call``,
``function_response``); LangChain role/content dicts with ``tool_calls`` (``{id, name, args}``).
Their block types do not collide, so one tolerant reader handles them all; a shape it does not
know yields no message rather than an error (the raw JSON is always on the page).

Usage::

    turn = read_llm_event(event["properties"])
    turn.prompt        # the new turn: user messages and tool results after the last answer
    turn.answer        # the model's reply: text, reasoning, tool calls
    turn.system        # the system prompt, if the inputs carry one

Nothing here produces HTML; texts are plain strings the pages escape.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from voker_core.devserver.dashboard.markup import short_json

__all__ = ["LLMTurn", "Message", "ToolCall", "read_llm_event", "text_of"]

_TEXT_BLOCKS = frozenset({"text", "input_text", "output_text", "summary_text", "refusal"})
_MEDIA_BLOCKS = {
    "image": "[image]",
    "image_url": "[image]",
    "input_image": "[image]",
    "input_audio": "[audio]",
    "audio": "[audio]",
    "file": "[file]",
    "input_file": "[file]",
    "document": "[document]",
}
_ASSISTANT_ROLES = frozenset({"assistant", "model", "ai"})
_SYSTEM_ROLES = frozenset({"system", "developer"})
_MAX_DEPTH = 8


@dataclass(frozen=True)
class ToolCall:
    """A tool the model asked for: its name, arguments (display text) and call id."""

    name: str
    arguments: str
    call_id: str | None = None


@dataclass(frozen=True)
class Message:
    """One entry of a conversation.

    ``role``: ``user``, ``assistant``, ``system``, ``tool`` (a tool's result) or ``reasoning``.
    ``name``: the tool's name for tool results (when known); ``call_id`` ties a result to its
    call; ``is_error``: a tool result the tool reported as failed.
    """

    role: str
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    name: str | None = None
    call_id: str | None = None
    is_error: bool = False


@dataclass
class LLMTurn:
    """One model call read as a conversation turn (see the module docstring)."""

    system: str | None = None
    prompt: list[Message] = field(default_factory=list)
    answer: list[Message] = field(default_factory=list)
    earlier: int = 0  # messages of the inputs before the new turn (history), not shown


def read_llm_event(properties: Mapping[str, Any]) -> LLMTurn:
    """The conversation turn an ``llm`` event records (empty parts when content is off)."""
    inputs = properties.get("inputs")
    turn = LLMTurn()
    messages: list[Message] = []
    if isinstance(inputs, Mapping):
        turn.system = _system_of(inputs)
        messages = _input_messages(inputs)
    elif isinstance(inputs, (str, list)):
        messages = _messages_of(inputs)
    system_texts = [m.text for m in messages if m.role == "system" and m.text]
    if system_texts and turn.system is None:
        turn.system = "\n\n".join(system_texts)
    conversation = [m for m in messages if m.role != "system"]
    last_answer = max(
        (i for i, m in enumerate(conversation) if m.role in ("assistant", "reasoning")),
        default=-1,
    )
    turn.prompt = conversation[last_answer + 1 :]
    turn.earlier = last_answer + 1
    turn.answer = _answer_of(properties.get("output"))
    return turn


# -- inputs -------------------------------------------------------------------------------------


def _input_messages(inputs: Mapping[str, Any]) -> list[Message]:
    for key in ("messages", "input", "contents"):
        if key in inputs and inputs[key] is not None:
            return _messages_of(inputs[key])
    prompt = inputs.get("prompt")
    if isinstance(prompt, str):
        return [Message("user", prompt)]
    if isinstance(prompt, list):
        return [Message("user", text_of(item)) for item in prompt]
    message = inputs.get("message")  # a Gemini chat's send_message(message=...)
    if message is not None:
        return _messages_of(message)
    return []


def _system_of(inputs: Mapping[str, Any]) -> str | None:
    texts = []
    for value in (inputs.get("system"), inputs.get("instructions")):
        if value:
            texts.append(text_of(value))
    config = inputs.get("config")
    if isinstance(config, Mapping):
        instruction = config.get("system_instruction") or config.get("systemInstruction")
        if instruction:
            texts.append(text_of(instruction))
    joined = "\n\n".join(text for text in texts if text)
    return joined or None


def _messages_of(value: Any) -> list[Message]:
    """Messages from a provider's message list (or a lone string / message / part)."""
    if isinstance(value, str):
        return [Message("user", value)]
    if isinstance(value, Mapping):
        return _message(value)
    if not isinstance(value, list):
        return []
    if value and all(isinstance(item, str) or _is_gemini_part(item) for item in value):
        # Gemini: a list of strings / parts is one user message.
        return _gemini_content({"role": "user", "parts": value})
    messages: list[Message] = []
    for item in value:
        if isinstance(item, str):
            messages.append(Message("user", item))
        elif isinstance(item, Mapping):
            messages.extend(_message(item))
    return messages


def _message(item: Mapping[str, Any]) -> list[Message]:
    """One provider message or item, as one or more neutral messages."""
    kind = item.get("type")
    if kind == "function_call" or kind == "custom_tool_call":  # Responses items
        return [Message("assistant", tool_calls=(_tool_call(item),))]
    if kind in ("function_call_output", "custom_tool_call_output"):
        return [
            Message(
                "tool", text=_result_text(item.get("output")), call_id=_str(item.get("call_id"))
            )
        ]
    if kind == "reasoning":
        text = text_of(item.get("summary")) or text_of(item.get("content"))
        return [Message("reasoning", text)] if text else []
    if "parts" in item:
        return _gemini_content(item)
    if _is_gemini_part(item):
        return _gemini_content({"role": "user", "parts": [item]})
    role = _role(item.get("role"))
    if role == "tool" or role == "function":
        return [
            Message(
                "tool",
                text=_result_text(item.get("content")),
                name=_str(item.get("name")),
                call_id=_str(item.get("tool_call_id")),
                is_error=item.get("status") == "error",
            )
        ]
    content = item.get("content")
    if role in ("assistant", "reasoning"):
        return [_assistant(item)]
    if isinstance(content, list):
        return _user_blocks(role, content)
    return [Message(role, text_of(content))]


def _user_blocks(role: str, blocks: list[Any]) -> list[Message]:
    """A user/system message of content blocks; Anthropic tool results become tool messages."""
    out: list[Message] = []
    texts: list[str] = []
    for block in blocks:
        if isinstance(block, Mapping) and block.get("type") == "tool_result":
            out.append(
                Message(
                    "tool",
                    text=_result_text(block.get("content")),
                    call_id=_str(block.get("tool_use_id")),
                    is_error=block.get("is_error") is True,
                )
            )
        else:
            text = text_of(block)
            if text:
                texts.append(text)
    if texts:
        out.append(Message(role, "\n".join(texts)))
    return out


def _assistant(item: Mapping[str, Any]) -> Message:
    """An assistant message in any provider's shape (OpenAI, Anthropic, LangChain)."""
    content = item.get("content")
    calls: list[ToolCall] = []
    texts: list[str] = []
    if isinstance(content, list):
        for block in content:
            if isinstance(block, Mapping) and block.get("type") in ("tool_use", "server_tool_use"):
                calls.append(_tool_call(block))
            elif isinstance(block, Mapping) and block.get("type") == "tool_call":
                calls.append(_tool_call(block))  # LangChain standard content blocks
            else:
                text = text_of(block)
                if text:
                    texts.append(text)
    else:
        text = text_of(content)
        if text:
            texts.append(text)
    refusal = item.get("refusal")
    if isinstance(refusal, str) and refusal:
        texts.append(refusal)
    raw_calls = item.get("tool_calls")
    if isinstance(raw_calls, list):
        known = {call.call_id for call in calls if call.call_id}
        for raw in raw_calls:
            if isinstance(raw, Mapping):
                call = _tool_call(raw)
                if call.call_id is None or call.call_id not in known:
                    calls.append(call)
    function_call = item.get("function_call")  # OpenAI's legacy single call
    if isinstance(function_call, Mapping):
        calls.append(_tool_call(function_call))
    return Message("assistant", "\n".join(texts), tool_calls=tuple(calls))


def _gemini_content(content: Mapping[str, Any]) -> list[Message]:
    role = _role(content.get("role") or "user")
    parts = content.get("parts")
    if not isinstance(parts, list):
        return []
    out: list[Message] = []
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[ToolCall] = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
            continue
        if not isinstance(part, Mapping):
            continue
        call = part.get("function_call") or part.get("functionCall")
        response = part.get("function_response") or part.get("functionResponse")
        if isinstance(call, Mapping):
            calls.append(_tool_call(call))
        elif isinstance(response, Mapping):
            out.append(
                Message(
                    "tool",
                    text=_result_text(response.get("response")),
                    name=_str(response.get("name")),
                    call_id=_str(response.get("id")),
                )
            )
        elif isinstance(part.get("text"), str):
            (thoughts if part.get("thought") is True else texts).append(part["text"])
        else:
            text = text_of(part)
            if text:
                texts.append(text)
    if thoughts:
        out.append(Message("reasoning", "".join(thoughts)))
    if role == "assistant" and (texts or calls):
        out.append(Message("assistant", "".join(texts), tool_calls=tuple(calls)))
    elif texts:
        out.append(Message(role, "\n".join(texts)))
    return out


def _is_gemini_part(item: Any) -> bool:
    if not isinstance(item, Mapping) or "type" in item or "role" in item:
        return False
    return any(
        key in item
        for key in (
            "text",
            "function_call",
            "functionCall",
            "function_response",
            "functionResponse",
            "inline_data",
            "inlineData",
            "file_data",
            "fileData",
        )
    )


# -- output -------------------------------------------------------------------------------------


def _answer_of(output: Any, depth: int = 0) -> list[Message]:
    """The model's reply from a recorded ``output`` in any provider's shape."""
    if output is None or depth > 2:
        return []
    if isinstance(output, str):
        return [Message("assistant", output)] if output else []
    if isinstance(output, list):
        return _answer_of(output[0], depth + 1) if output else []
    if not isinstance(output, Mapping):
        return [Message("assistant", short_json(output))]
    choices = output.get("choices")
    if isinstance(choices, list):  # OpenAI chat completions
        first = choices[0] if choices else None
        message = first.get("message") if isinstance(first, Mapping) else None
        return _reply(_assistant(message)) if isinstance(message, Mapping) else []
    items = output.get("output")
    if isinstance(items, list):  # OpenAI Responses
        return _responses_output(items, output.get("output_text"))
    candidates = output.get("candidates")
    if isinstance(candidates, list):  # Gemini
        first = candidates[0] if candidates else None
        content = first.get("content") if isinstance(first, Mapping) else None
        if isinstance(content, Mapping):
            return _gemini_content({**content, "role": "model"})
        return []
    if "content" in output or "tool_calls" in output:  # Anthropic / LangChain message
        return _reply(_anthropic_or_message(output))
    if isinstance(output.get("text"), str):  # completion-style outputs
        return [Message("assistant", output["text"])]
    return [Message("assistant", short_json(output))]


def _anthropic_or_message(output: Mapping[str, Any]) -> Message:
    content = output.get("content")
    if isinstance(content, list):
        thinking = [
            str(block.get("thinking"))
            for block in content
            if isinstance(block, Mapping) and block.get("type") == "thinking"
        ]
        message = _assistant(output)
        if thinking:
            # Rare enough to fold into the text with a label rather than a separate bubble.
            return Message(
                "assistant",
                "\n".join(filter(None, ["(thinking) " + " ".join(thinking), message.text])),
                tool_calls=message.tool_calls,
            )
        return message
    return _assistant(output)


def _responses_output(items: list[Any], output_text: Any) -> list[Message]:
    out: list[Message] = []
    texts: list[str] = []
    calls: list[ToolCall] = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        kind = item.get("type")
        if kind == "message":
            text = text_of(item.get("content"))
            if text:
                texts.append(text)
        elif kind == "reasoning":
            text = text_of(item.get("summary"))
            if text:
                out.append(Message("reasoning", text))
        elif isinstance(kind, str) and (kind.endswith("_call") or kind == "custom_tool_call"):
            calls.append(_tool_call(item))
    if not texts and isinstance(output_text, str) and output_text:
        texts.append(output_text)
    if texts or calls:
        out.append(Message("assistant", "\n".join(texts), tool_calls=tuple(calls)))
    return out


def _reply(message: Message) -> list[Message]:
    return [message] if message.text or message.tool_calls else []


# -- pieces -------------------------------------------------------------------------------------


def _tool_call(raw: Mapping[str, Any]) -> ToolCall:
    """A tool call in OpenAI, Responses, Anthropic, Gemini or LangChain shape."""
    function = raw.get("function")
    source = function if isinstance(function, Mapping) else raw
    name = source.get("name")
    if not isinstance(name, str) or not name:
        name = str(raw.get("type") or "tool")
    arguments: Any = None
    for key in ("arguments", "args", "input", "action", "query"):
        if source.get(key) is not None:
            arguments = source[key]
            break
    call_id = raw.get("id") if raw.get("call_id") is None else raw.get("call_id")
    return ToolCall(name=name, arguments=_arguments_text(arguments), call_id=_str(call_id))


def _arguments_text(arguments: Any) -> str:
    if arguments is None:
        return ""
    if isinstance(arguments, str):
        try:
            parsed = json.loads(arguments)
        except ValueError:
            return arguments
        return short_json(parsed)
    return short_json(arguments)


def _result_text(content: Any) -> str:
    if isinstance(content, (str, list)) or content is None:
        text = text_of(content)
        if text or not isinstance(content, list):
            return text
    return short_json(content)


def text_of(content: Any, _depth: int = 0) -> str:
    """The readable text of a message's content: a string, blocks/parts, or a message dict.

    Images, audio and files become placeholders such as ``[image]``; unknown blocks are skipped.
    """
    if _depth > _MAX_DEPTH or content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = (text_of(item, _depth + 1) for item in content)
        return "\n".join(text for text in texts if text)
    if not isinstance(content, Mapping):
        return str(content)
    kind = content.get("type")
    if not isinstance(kind, str):
        kind = None  # untrusted JSON: a list or an object here must not break the page
    if kind in _TEXT_BLOCKS or (kind is None and "text" in content):
        text = content.get("text", content.get("refusal"))
        return text if isinstance(text, str) else text_of(text, _depth + 1)
    if isinstance(kind, str) and kind in _MEDIA_BLOCKS:
        return _MEDIA_BLOCKS[kind]
    if "inline_data" in content or "inlineData" in content or "file_data" in content:
        return "[file]"
    if "parts" in content:
        return text_of(content.get("parts"), _depth + 1)
    if "content" in content and kind is None:
        return text_of(content.get("content"), _depth + 1)
    return ""


def _role(value: Any) -> str:
    role = str(value or "user").lower()
    if role in _ASSISTANT_ROLES:
        return "assistant"
    if role in _SYSTEM_ROLES:
        return "system"
    if role == "human":
        return "user"
    return role


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
