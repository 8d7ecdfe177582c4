"""OpenAI wire format: Chat Completions (`/chat/completions`) and Responses (`/responses`).

Shapes follow the `openai` SDK's types: `ChatCompletion` / `ChatCompletionChunk` (SSE `data:`
lines ending with `data: [DONE]`; with `stream_options.include_usage` every chunk carries
`"usage": null` and a last chunk with empty `choices` carries the usage), and `Response` with the
Responses event stream (`event:` + `data:` frames with `sequence_number`, ending with
`response.completed`, no `[DONE]`).

Chat extras, as the real services do: a request with `n` > 1 gets `n` choices (choice 0 is the
scripted reply; the others repeat its text and finish with `stop`, so a test can tell choice 0's
finish reason from theirs); a stream answered on Azure's deployment path opens with Azure's
prompt-filter chunk (`choices: []`, `id`/`model` `""`, `created` 0, `prompt_filter_results`);
an Azure request whose `api-version` is dated before 2024-09-01 is refused with Azure's 400
("Unrecognized request argument supplied: stream_options") if its body has `stream_options`;
a request with `"audio"` among its `modalities` is answered with audio: the reply text is the
transcript and its UTF-8 bytes the "sound" (`message.audio` with `content: null`; streamed, as
`delta.audio` pieces: the id with the first transcript piece, then the transcript, then the
data in pieces each base64-encoded on its own, padding and all, then `expires_at` alone).
Responses: a `ToolCall` naming a `custom` tool of the request becomes a `custom_tool_call` item
(its `input`: the arguments, verbatim when a string); a non-streamed `background: true` request
is answered with the `queued` response (no output, no usage), and `GET .../responses/{id}` then
answers the finished one.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import time
from collections.abc import Mapping
from typing import Any

from ._common import (
    CallInfo,
    count_words,
    joined_text,
    split_arguments,
    split_text,
    sse_data,
)
from ._provider import Provider
from ._types import ResolvedReply

_FINGERPRINT = "fp_fakellm"
_DEPLOYMENT = re.compile(r"/deployments/([^/]+)/")

_ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    409: ("invalid_request_error", None),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}


def openai_error_body(status: int, message: str, error_type: str | None) -> dict[str, Any]:
    """`{"error": {message, type, param, code}}` as the OpenAI API sends it."""
    kind, code = _ERROR_KINDS.get(status, ("server_error", None))
    return {
        "error": {
            "message": message,
            "type": error_type or kind,
            "param": None,
            "code": code,
        }
    }


@dataclasses.dataclass(frozen=True)
class _ChatCallInfo(CallInfo):
    """A Chat request's summary, plus what shapes the answer beyond the reply."""

    choices: int = 1  # the request's `n`
    azure: bool = False  # sent to an Azure deployment path
    audio: bool = False  # `modalities` asks for audio output


_AZURE_PROMPT_FILTER = {
    "choices": [],
    "created": 0,
    "id": "",
    "model": "",
    "object": "",
    "prompt_filter_results": [
        {
            "prompt_index": 0,
            "content_filter_results": {
                kind: {"filtered": False, "severity": "safe"}
                for kind in ("hate", "self_harm", "sexual", "violence")
            },
        }
    ],
}


# Azure API versions are dated; those before this one refuse `stream_options`.
_AZURE_STREAM_OPTIONS_SINCE = "2024-09-01"
_AZURE_VERSION_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_AUDIO_DATA_PIECE = 5  # bytes per streamed audio piece: odd, so pieces end in base64 padding


class OpenAIChat(Provider):
    """POST `/v1/chat/completions` (also Azure's `/openai/deployments/{d}/chat/completions`)."""

    api = "openai-chat-completions"
    tool_id_prefix = "call_fake"

    def match(self, path: str) -> dict[str, str] | None:
        if not path.endswith("/chat/completions"):
            return None
        deployment = _DEPLOYMENT.search(path)
        return {"deployment": deployment.group(1)} if deployment else {}

    def refuse(
        self, body: Mapping[str, Any], params: Mapping[str, str], query: Mapping[str, list[str]]
    ) -> tuple[int, str] | None:
        """Azure API versions before 2024-09-01-preview do not know `stream_options`."""
        if "deployment" not in params or "stream_options" not in body:
            return None
        version = _AZURE_VERSION_DATE.match((query.get("api-version") or [""])[0])
        if version is None or version.group() >= _AZURE_STREAM_OPTIONS_SINCE:
            return None
        return 400, "Unrecognized request argument supplied: stream_options"

    def describe(
        self, body: Mapping[str, Any], params: Mapping[str, str], query: Mapping[str, list[str]]
    ) -> CallInfo:
        messages = body.get("messages") or []
        last_user = ""
        if isinstance(messages, list):
            for message in reversed(messages):
                if isinstance(message, Mapping) and message.get("role") == "user":
                    last_user = joined_text(message.get("content"))
                    break
        schema, json_mode = _chat_format(body.get("response_format"))
        stream_options = body.get("stream_options")
        include_usage = isinstance(stream_options, Mapping) and bool(
            stream_options.get("include_usage")
        )
        n = body.get("n")
        modalities = body.get("modalities")
        return _ChatCallInfo(
            api=self.api,
            model=str(body.get("model") or params.get("deployment") or "gpt-fake"),
            stream=bool(body.get("stream")),
            prompt_words=count_words(messages),
            last_user_text=last_user,
            schema=schema,
            json_mode=json_mode,
            include_usage=include_usage,
            choices=n if isinstance(n, int) and n > 1 else 1,
            azure="deployment" in params,
            audio=isinstance(modalities, list) and "audio" in modalities,
        )

    def render(self, call: CallInfo, reply: ResolvedReply, serial: int) -> Any:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.text if reply.text or not reply.tool_calls else None,
            "refusal": None,
            "annotations": [],
        }
        if _speaks(call):
            message["content"] = None
            message["audio"] = {
                "id": _audio_id(serial),
                "data": base64.b64encode(reply.text.encode()).decode("ascii"),
                "expires_at": int(time.time()) + 3600,
                "transcript": reply.text,
            }
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": tc.id,
                    "type": "function",
                    "function": {"name": tc.name, "arguments": tc.arguments_json()},
                }
                for tc in reply.tool_calls
            ]
        return {
            "id": f"chatcmpl-fake{serial:08d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": reply.finish_reason,
                }
            ]
            + [
                {
                    "index": index,
                    "message": {**message, "content": reply.text, "tool_calls": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
                for index in range(1, _choice_count(call))
            ],
            "usage": chat_usage(reply),
            "service_tier": "default",
            "system_fingerprint": _FINGERPRINT,
        }

    def render_stream(
        self, call: CallInfo, reply: ResolvedReply, serial: int, chunk_size: int | None
    ) -> list[bytes]:
        created = int(time.time())

        def chunk(choices: list[dict[str, Any]]) -> dict[str, Any]:
            payload: dict[str, Any] = {
                "id": f"chatcmpl-fake{serial:08d}",
                "object": "chat.completion.chunk",
                "created": created,
                "model": reply.model,
                "service_tier": "default",
                "system_fingerprint": _FINGERPRINT,
                "choices": choices,
            }
            if call.include_usage:
                payload["usage"] = None
            return payload

        def delta(
            content: dict[str, Any], finish: str | None = None, index: int = 0
        ) -> list[dict[str, Any]]:
            return [{"index": index, "delta": content, "logprobs": None, "finish_reason": finish}]

        frames = []
        if isinstance(call, _ChatCallInfo) and call.azure:
            frames.append(
                {**_AZURE_PROMPT_FILTER, "usage": None}
                if call.include_usage
                else {**_AZURE_PROMPT_FILTER}
            )
        if _speaks(call):
            frames.append(chunk(delta({"role": "assistant", "content": None, "refusal": None})))
            frames += [chunk(delta({"audio": audio})) for audio in _audio_deltas(reply, serial)]
        else:
            frames.append(chunk(delta({"role": "assistant", "content": "", "refusal": None})))
            frames += [
                chunk(delta({"content": piece})) for piece in split_text(reply.text, chunk_size)
            ]
        for index, tc in enumerate(reply.tool_calls):
            head = {
                "index": index,
                "id": tc.id,
                "type": "function",
                "function": {"name": tc.name, "arguments": ""},
            }
            frames.append(chunk(delta({"tool_calls": [head]})))
            frames += [
                chunk(delta({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
                for piece in split_arguments(tc.arguments_json())
            ]
        frames.append(chunk(delta({}, reply.finish_reason)))
        for index in range(1, _choice_count(call)):  # the other choices, after choice 0
            role = {"role": "assistant", "content": reply.text}
            frames += [chunk(delta(role, index=index)), chunk(delta({}, "stop", index))]
        if call.include_usage:
            final = chunk([])
            final["usage"] = chat_usage(reply)
            frames.append(final)
        return [sse_data(frame) for frame in frames] + [b"data: [DONE]\n\n"]

    def error_body(self, status: int, message: str, error_type: str | None, serial: int) -> Any:
        return openai_error_body(status, message, error_type)


@dataclasses.dataclass(frozen=True)
class _ResponsesCallInfo(CallInfo):
    """A Responses request's summary, plus the names of its `custom` (free-form) tools."""

    custom_tools: frozenset[str] = frozenset()
    background: bool = False  # `background: true`: answered queued, finished on retrieval


class OpenAIResponses(Provider):
    """POST `/v1/responses`."""

    api = "openai-responses"
    tool_id_prefix = "call_fake"

    def match(self, path: str) -> dict[str, str] | None:
        return {} if path.endswith("/responses") else None

    def describe(
        self, body: Mapping[str, Any], params: Mapping[str, str], query: Mapping[str, list[str]]
    ) -> CallInfo:
        items = body.get("input")
        if isinstance(items, str):
            last_user = items
        else:
            last_user = ""
            for item in reversed(items if isinstance(items, list) else []):
                if isinstance(item, Mapping) and item.get("role") == "user":
                    last_user = joined_text(item.get("content"))
                    break
        text_config = body.get("text")
        schema, json_mode = (
            _chat_format(text_config.get("format"), nested=False)
            if isinstance(text_config, Mapping)
            else (None, False)
        )
        tools = body.get("tools")
        custom = frozenset(
            str(tool.get("name"))
            for tool in (tools if isinstance(tools, list) else [])
            if isinstance(tool, Mapping) and tool.get("type") == "custom"
        )
        return _ResponsesCallInfo(
            custom_tools=custom,
            background=body.get("background") is True,
            api=self.api,
            model=str(body.get("model") or "gpt-fake"),
            stream=bool(body.get("stream")),
            prompt_words=count_words({"instructions": body.get("instructions"), "input": items}),
            last_user_text=last_user,
            schema=schema,
            json_mode=json_mode,
        )

    def render(self, call: CallInfo, reply: ResolvedReply, serial: int) -> Any:
        if _in_background(call):
            return {**self._response(call, reply, serial, done=False), "status": "queued"}
        return self._response(call, reply, serial, done=True)

    def kept(self, call: CallInfo, reply: ResolvedReply, serial: int) -> tuple[str, Any] | None:
        if not _in_background(call):
            return None
        final = self._response(call, reply, serial, done=True)
        return str(final["id"]), final

    def render_stream(
        self, call: CallInfo, reply: ResolvedReply, serial: int, chunk_size: int | None
    ) -> list[bytes]:
        events: list[dict[str, Any]] = []
        pending = self._response(call, reply, serial, done=False)
        events.append({"type": "response.created", "response": pending})
        events.append({"type": "response.in_progress", "response": pending})
        for index, item in enumerate(_output_items(call, reply, serial)):
            if item["type"] == "message":
                events += _message_events(item, index, chunk_size)
            elif item["type"] == "custom_tool_call":
                events += [
                    {"type": kind, "output_index": index, "item": item}
                    for kind in ("response.output_item.added", "response.output_item.done")
                ]
            else:
                events += _function_call_events(item, index)
        if reply.failed:
            events.append({"type": "error", **_failure(reply)})
        else:
            final = self._response(call, reply, serial, True)
            events.append({"type": "response.completed", "response": final})
        frames = []
        for number, event in enumerate(events):
            event["sequence_number"] = number
            frames.append(sse_data(event, event=str(event["type"])))
        return frames

    def error_body(self, status: int, message: str, error_type: str | None, serial: int) -> Any:
        return openai_error_body(status, message, error_type)

    def _response(
        self, call: CallInfo, reply: ResolvedReply, serial: int, done: bool
    ) -> dict[str, Any]:
        created = int(time.time())
        status = "in_progress"
        incomplete = None
        if done:
            status = "completed"
            if reply.finish_reason in ("length", "content_filter"):
                status = "incomplete"
                reason = (
                    "max_output_tokens" if reply.finish_reason == "length" else "content_filter"
                )
                incomplete = {"reason": reason}
        if done and reply.failed:
            status = "failed"
        return {
            "id": f"resp_fake{serial:08d}",
            "object": "response",
            "created_at": created,
            "status": status,
            "completed_at": created if done else None,
            "error": _failure(reply) if done and reply.failed else None,
            "incomplete_details": incomplete,
            "instructions": None,
            "max_output_tokens": None,
            "model": reply.model,
            "output": _output_items(call, reply, serial) if done else [],
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "service_tier": "default",
            "store": True,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": responses_usage(reply) if done else None,
            "user": None,
            "metadata": {},
            "background": _in_background(call),
        }


def _in_background(call: CallInfo) -> bool:
    return isinstance(call, _ResponsesCallInfo) and call.background


def _failure(reply: ResolvedReply) -> dict[str, Any]:
    """A Responses API error object (in a failed response, or an ``error`` stream event)."""
    message = reply.failure_message or "The model failed to generate a response."
    return {"code": "server_error", "message": message, "param": None}


def _choice_count(call: CallInfo) -> int:
    return call.choices if isinstance(call, _ChatCallInfo) else 1


def _speaks(call: CallInfo) -> bool:
    return isinstance(call, _ChatCallInfo) and call.audio


def _audio_id(serial: int) -> str:
    return f"audio_fake{serial:08d}"


def _audio_deltas(reply: ResolvedReply, serial: int) -> list[dict[str, Any]]:
    """A spoken reply's `delta.audio` pieces, in the real API's order: the id with the first
    transcript piece, the transcript, the sound (the text's bytes, each piece base64-encoded
    on its own), and the expiry alone."""
    deltas: list[dict[str, Any]] = [
        {"transcript": piece} for piece in split_text(reply.text, None)
    ] or [{}]
    deltas[0]["id"] = _audio_id(serial)
    sound = reply.text.encode()
    deltas += [
        {"data": base64.b64encode(sound[i : i + _AUDIO_DATA_PIECE]).decode("ascii")}
        for i in range(0, len(sound), _AUDIO_DATA_PIECE)
    ]
    deltas.append({"expires_at": int(time.time()) + 3600})
    return deltas


def chat_usage(reply: ResolvedReply) -> dict[str, Any]:
    """`CompletionUsage` (prompt tokens include cached ones; completion includes reasoning)."""
    prompt_details: dict[str, Any] = {"cached_tokens": reply.cached_tokens, "audio_tokens": 0}
    if reply.cache_creation_tokens:
        prompt_details["cache_write_tokens"] = reply.cache_creation_tokens
    return {
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": reply.total_tokens,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {
            "reasoning_tokens": reply.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def responses_usage(reply: ResolvedReply) -> dict[str, Any]:
    """`ResponseUsage` (input tokens include cached ones; output includes reasoning)."""
    return {
        "input_tokens": reply.input_tokens,
        "input_tokens_details": {
            "cached_tokens": reply.cached_tokens,
            "cache_write_tokens": reply.cache_creation_tokens,
        },
        "output_tokens": reply.output_tokens,
        "output_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
        "total_tokens": reply.total_tokens,
    }


def _chat_format(value: Any, *, nested: bool = True) -> tuple[Mapping[str, Any] | None, bool]:
    """(schema, json_mode) from `response_format` (chat) or `text.format` (responses)."""
    if not isinstance(value, Mapping):
        return None, False
    kind = value.get("type")
    if kind == "json_object":
        return None, True
    if kind != "json_schema":
        return None, False
    holder = value.get("json_schema") if nested else value
    schema = holder.get("schema") if isinstance(holder, Mapping) else None
    return (schema if isinstance(schema, Mapping) else {}), True


def _output_items(call: CallInfo, reply: ResolvedReply, serial: int) -> list[dict[str, Any]]:
    custom = call.custom_tools if isinstance(call, _ResponsesCallInfo) else frozenset()
    items: list[dict[str, Any]] = []
    if reply.text or not reply.tool_calls:
        items.append(
            {
                "id": f"msg_fake{serial:08d}",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [_text_part(reply.text)],
            }
        )
    for index, tc in enumerate(reply.tool_calls):
        item: dict[str, Any] = {
            "id": f"fc_fake{serial:08d}{index}",
            "type": "function_call",
            "status": "completed",
            "call_id": tc.id,
            "name": tc.name,
        }
        if tc.name in custom:
            text = tc.arguments if isinstance(tc.arguments, str) else tc.arguments_json()
            item.update(id=f"ctc_fake{serial:08d}{index}", type="custom_tool_call", input=text)
        else:
            item["arguments"] = tc.arguments_json()
        items.append(item)
    return items


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _message_events(item: dict[str, Any], index: int, chunk: int | None) -> list[dict[str, Any]]:
    text = str(item["content"][0]["text"])
    item_id = item["id"]
    where = {"item_id": item_id, "output_index": index, "content_index": 0}
    events: list[dict[str, Any]] = [
        {
            "type": "response.output_item.added",
            "output_index": index,
            "item": {**item, "status": "in_progress", "content": []},
        },
        {"type": "response.content_part.added", **where, "part": _text_part("")},
    ]
    events += [
        {"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []}
        for piece in split_text(text, chunk)
    ]
    events += [
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": _text_part(text)},
        {"type": "response.output_item.done", "output_index": index, "item": item},
    ]
    return events


def _function_call_events(item: dict[str, Any], index: int) -> list[dict[str, Any]]:
    arguments = str(item["arguments"])
    where = {"item_id": item["id"], "output_index": index}
    events: list[dict[str, Any]] = [
        {
            "type": "response.output_item.added",
            "output_index": index,
            "item": {**item, "status": "in_progress", "arguments": ""},
        }
    ]
    events += [
        {"type": "response.function_call_arguments.delta", **where, "delta": piece}
        for piece in split_arguments(arguments)
    ]
    events += [
        {
            "type": "response.function_call_arguments.done",
            **where,
            "name": item["name"],
            "arguments": arguments,
        },
        {"type": "response.output_item.done", "output_index": index, "item": item},
    ]
    return events


__all__ = ["OpenAIChat", "OpenAIResponses", "chat_usage", "responses_usage"]
