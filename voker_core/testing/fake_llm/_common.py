"""Helpers shared by the provider modules: request summary, text extraction, token counting,
stream splitting, JSON-schema example values and SSE framing."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# Keys whose string values are message text (as opposed to roles, ids, types, names).
_TEXT_KEYS = frozenset(
    {"content", "text", "input", "instructions", "system", "output", "arguments", "thinking"}
)
_PIECE = re.compile(r"\S+\s*|\s+")


@dataclass(frozen=True)
class CallInfo:
    """The provider-neutral summary of one model request, produced by a provider module."""

    api: str
    model: str
    stream: bool
    prompt_words: int
    last_user_text: str
    schema: Mapping[str, Any] | None = None
    json_mode: bool = False
    include_usage: bool = False
    vertex: bool = False
    sse: bool = True


def text_leaves(value: Any, key: str | None = "content") -> Iterator[str]:
    """Yield the message text inside a request fragment (strings under text-like keys)."""
    if isinstance(value, str):
        if key in _TEXT_KEYS:
            yield value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from text_leaves(v, str(k))
    elif isinstance(value, list):
        for item in value:
            yield from text_leaves(item, key)


def count_words(*fragments: Any) -> int:
    """Number of whitespace-separated words in the text of the fragments (the fake tokenizer)."""
    return sum(len(text.split()) for fragment in fragments for text in text_leaves(fragment))


def joined_text(fragment: Any) -> str:
    """The text of a fragment joined by spaces."""
    return " ".join(t.strip() for t in text_leaves(fragment) if t.strip())


def echo_text(last_user_text: str) -> str:
    """The default reply: an echo of the last user message."""
    text = " ".join(last_user_text.split())
    return f"Echo: {text}" if text else "Echo."


def split_text(text: str, chunk_size: int | None) -> list[str]:
    """Split text into stream deltas: `chunk_size` characters each, else one word each."""
    if not text:
        return []
    if chunk_size and chunk_size > 0:
        return [text[i : i + chunk_size] for i in range(0, len(text), chunk_size)]
    return _PIECE.findall(text)


def split_arguments(arguments: str) -> list[str]:
    """Split a tool call's JSON arguments into a few deltas, as providers stream them."""
    if len(arguments) <= 2:
        return [arguments] if arguments else []
    step = max(1, -(-len(arguments) // 3))
    return [arguments[i : i + step] for i in range(0, len(arguments), step)]


def example_from_schema(schema: Mapping[str, Any], text: str) -> Any:
    """A value valid for a JSON schema (OpenAI/Anthropic JSON Schema or Gemini's OpenAPI subset).

    Strings get `text` (the echo), so a structured reply still reflects the request.
    """
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        found = schema.get(key)
        if isinstance(found, Mapping):
            defs.update(found)
    return _example(schema, defs, text, depth=0)


def _example(schema: Any, defs: Mapping[str, Any], text: str, depth: int) -> Any:
    if not isinstance(schema, Mapping) or depth > 12:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return _example(defs.get(ref.rsplit("/", 1)[-1], {}), defs, text, depth + 1)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    for combinator in ("anyOf", "oneOf", "any_of"):
        options = schema.get(combinator)
        if isinstance(options, list) and options:
            non_null = [o for o in options if not (isinstance(o, Mapping) and _is_null(o))]
            return _example((non_null or options)[0], defs, text, depth + 1)
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and all_of:
        merged: dict[str, Any] = {}
        for part in all_of:
            piece = _example(part, defs, text, depth + 1)
            if isinstance(piece, dict):
                merged.update(piece)
        return merged
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [str(k).lower() for k in kind if str(k).lower() != "null"]
        kind = kinds[0] if kinds else "null"
    kind = str(kind).lower() if kind is not None else ("object" if "properties" in schema else "")
    if kind == "object":
        props = schema.get("properties")
        if not isinstance(props, Mapping):
            return {}
        return {str(k): _example(v, defs, text, depth + 1) for k, v in props.items()}
    if kind == "array":
        minimum = schema.get("minItems")
        count = minimum if isinstance(minimum, int) and minimum > 0 else 1
        return [_example(schema.get("items", {}), defs, text, depth + 1) for _ in range(count)]
    if kind == "string":
        return _string_example(schema, text)
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        number: float = low + 1 if isinstance(low, (int, float)) else 1
        return int(number) if kind == "integer" else float(number)
    if kind == "boolean":
        return True
    return None


def _is_null(schema: Mapping[str, Any]) -> bool:
    return str(schema.get("type", "")).lower() == "null"


def _string_example(schema: Mapping[str, Any], text: str) -> str:
    fmt = schema.get("format")
    if fmt == "date-time":
        return "2024-01-01T00:00:00Z"
    if fmt == "date":
        return "2024-01-01"
    if fmt == "time":
        return "00:00:00"
    if fmt == "email":
        return "user@example.com"
    if fmt in ("uri", "url"):
        return "https://example.com/"
    if fmt == "uuid":
        return "00000000-0000-4000-8000-000000000000"
    return text


def dumps(value: Any) -> str:
    """Compact JSON, as the providers send it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def sse_data(payload: Any, *, event: str | None = None, newline: str = "\n") -> bytes:
    """One server-sent event frame (`event:` line optional)."""
    head = f"event: {event}{newline}" if event else ""
    return f"{head}data: {dumps(payload)}{newline}{newline}".encode()
