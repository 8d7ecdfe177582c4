"""Anthropic wire format: POST `/v1/messages` (also `beta.messages`: same endpoint; anthropic 2.x
sends `anthropic-beta` headers when betas are asked for, older SDKs added `?beta=true`).

Non-streaming: a `Message` with `text` / `tool_use` content blocks. Streaming: `event:` + `data:`
frames `message_start` (input and cache token counts), `content_block_start`, `ping`,
`content_block_delta` (`text_delta` / `input_json_delta`), `content_block_stop`, `message_delta`
(stop reason and output tokens only, so a client must combine it with `message_start`),
`message_stop`. Anthropic's `input_tokens` excludes cache reads and writes.

`Reply(failed=True)` streamed: the model fails after the HTTP 200, as Anthropic reports it, with
an `error` event (`overloaded_error`; `error_message` its message) in place of `message_delta`
and `message_stop`. Not streamed, it is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._common import (
    CallInfo,
    count_words,
    dumps,
    joined_text,
    split_arguments,
    split_text,
    sse_data,
)
from ._provider import Provider
from ._types import FinishReason, ResolvedReply

_STOP_REASONS: dict[FinishReason, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}

_ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class AnthropicMessages(Provider):
    """POST `/v1/messages`."""

    api = "anthropic-messages"
    tool_id_prefix = "toolu_fake"

    def match(self, path: str) -> dict[str, str] | None:
        return {} if path.endswith("/v1/messages") else None

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
        return CallInfo(
            api=self.api,
            model=str(body.get("model") or "claude-fake"),
            stream=bool(body.get("stream")),
            prompt_words=count_words({"system": body.get("system")}, messages),
            last_user_text=last_user,
            schema=_schema(body),
            json_mode=_schema(body) is not None,
        )

    def render(self, call: CallInfo, reply: ResolvedReply, serial: int) -> Any:
        content: list[dict[str, Any]] = []
        if reply.text or not reply.tool_calls:
            content.append({"type": "text", "text": reply.text})
        content += [
            {"type": "tool_use", "id": tc.id, "name": tc.name, "input": tc.arguments_object()}
            for tc in reply.tool_calls
        ]
        return {
            "id": f"msg_fake{serial:08d}",
            "type": "message",
            "role": "assistant",
            "model": reply.model,
            "content": content,
            "stop_reason": _STOP_REASONS[reply.finish_reason],
            "stop_sequence": None,
            "usage": anthropic_usage(reply),
        }

    def render_stream(
        self, call: CallInfo, reply: ResolvedReply, serial: int, chunk_size: int | None
    ) -> list[bytes]:
        start_usage = anthropic_usage(reply)
        start_usage["output_tokens"] = min(1, reply.output_tokens)
        start_usage.pop("output_tokens_details", None)
        events: list[dict[str, Any]] = [
            {
                "type": "message_start",
                "message": {
                    "id": f"msg_fake{serial:08d}",
                    "type": "message",
                    "role": "assistant",
                    "model": reply.model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                },
            }
        ]
        index = 0
        if reply.text or not reply.tool_calls:
            events.append(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                }
            )
            events.append({"type": "ping"})
            events += [
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "text_delta", "text": piece},
                }
                for piece in split_text(reply.text, chunk_size)
            ]
            events.append({"type": "content_block_stop", "index": index})
            index += 1
        for tc in reply.tool_calls:
            events.append(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {
                        "type": "tool_use",
                        "id": tc.id,
                        "name": tc.name,
                        "input": {},
                    },
                }
            )
            if index == 0:
                events.append({"type": "ping"})
            arguments = dumps(tc.arguments_object())
            events += [
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": piece},
                }
                for piece in ["", *split_arguments(arguments)]
            ]
            events.append({"type": "content_block_stop", "index": index})
            index += 1
        if reply.failed:
            events.append(
                {
                    "type": "error",
                    "error": {
                        "type": "overloaded_error",
                        "message": reply.failure_message or "Overloaded",
                    },
                }
            )
            return [sse_data(event, event=str(event["type"])) for event in events]
        delta_usage: dict[str, Any] = {"output_tokens": reply.output_tokens}
        if reply.reasoning_tokens:
            delta_usage["output_tokens_details"] = {"thinking_tokens": reply.reasoning_tokens}
        events.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": _STOP_REASONS[reply.finish_reason], "stop_sequence": None},
                "usage": delta_usage,
            }
        )
        events.append({"type": "message_stop"})
        return [sse_data(event, event=str(event["type"])) for event in events]

    def error_body(self, status: int, message: str, error_type: str | None, serial: int) -> Any:
        return {
            "type": "error",
            "error": {
                "type": error_type or _ERROR_TYPES.get(status, "api_error"),
                "message": message,
            },
            "request_id": f"req_fake{serial:08d}",
        }


def anthropic_usage(reply: ResolvedReply) -> dict[str, Any]:
    """`Usage`: `input_tokens` excludes cache reads and writes, which are reported beside it."""
    usage: dict[str, Any] = {
        "input_tokens": reply.uncached_input_tokens,
        "cache_creation_input_tokens": reply.cache_creation_tokens,
        "cache_read_input_tokens": reply.cached_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": reply.cache_creation_tokens,
            "ephemeral_1h_input_tokens": 0,
        },
        "output_tokens": reply.output_tokens,
        "service_tier": "standard",
    }
    if reply.reasoning_tokens:
        usage["output_tokens_details"] = {"thinking_tokens": reply.reasoning_tokens}
    return usage


def _schema(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The JSON schema of `output_config.format` (or the older top-level `output_format`)."""
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, Mapping) else body.get("output_format")
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        schema = fmt.get("schema")
        return schema if isinstance(schema, Mapping) else {}
    return None
