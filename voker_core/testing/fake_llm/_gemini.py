"""Google Gemini wire format: `models/{model}:generateContent` and `:streamGenerateContent`.

Served under every API version the `google-genai` client uses (`v1` by default, `v1beta`,
`v1alpha`, Vertex's `v1beta1`), both for the Gemini API path `/{version}/models/{model}:...` and
the Vertex path `/{version}/projects/{p}/locations/{l}/publishers/google/models/{model}:...`.
Streaming with `?alt=sse` sends `data: {...}\\r\\n\\r\\n` frames, each a full
`GenerateContentResponse`; the last one carries `finishReason` and the complete `usageMetadata`
(earlier ones only the prompt count). Without `alt=sse` the chunks come as one JSON array.
`promptTokenCount` includes `cachedContentTokenCount`; `candidatesTokenCount` excludes
`thoughtsTokenCount`; errors are `{"error": {"code", "message", "status"}}`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ._common import CallInfo, count_words, dumps, joined_text, split_text
from ._provider import Provider
from ._types import FinishReason, ResolvedReply

_PATH = re.compile(
    r"^/(?P<version>v1|v1beta|v1alpha|v1beta1)/"
    r"(?:projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/)?"
    r"(?:publishers/(?P<publisher>[^/]+)/)?"
    r"(?:models|tunedModels)/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent)$"
)

_FINISH: dict[FinishReason, str] = {
    "stop": "STOP",
    "length": "MAX_TOKENS",
    "tool_calls": "STOP",
    "content_filter": "SAFETY",
}

_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class GeminiGenerate(Provider):
    """POST `.../models/{model}:generateContent` and `:streamGenerateContent`."""

    api = "gemini-models"
    tool_id_prefix = None
    reports_cache_creation = False

    def match(self, path: str) -> dict[str, str] | None:
        found = _PATH.match(path)
        if found is None:
            return None
        return {k: v for k, v in found.groupdict().items() if v is not None}

    def describe(
        self, body: Mapping[str, Any], params: Mapping[str, str], query: Mapping[str, list[str]]
    ) -> CallInfo:
        contents = body.get("contents") or []
        last_user = ""
        if isinstance(contents, list):
            for content in reversed(contents):
                if isinstance(content, Mapping) and content.get("role", "user") == "user":
                    last_user = joined_text(content.get("parts"))
                    break
        config = body.get("generationConfig")
        config = config if isinstance(config, Mapping) else {}
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        stream = params.get("method") == "streamGenerateContent"
        return CallInfo(
            api=self.api,
            model=params.get("model", "gemini-fake"),
            stream=stream,
            prompt_words=count_words({"system": body.get("systemInstruction")}, contents),
            last_user_text=last_user,
            schema=schema if isinstance(schema, Mapping) else None,
            json_mode=config.get("responseMimeType") == "application/json",
            vertex="project" in params,
            sse=not stream or "sse" in query.get("alt", []),
        )

    def render(self, call: CallInfo, reply: ResolvedReply, serial: int) -> Any:
        return self._chunk(call, reply, serial, _parts(reply), final=True)

    def render_stream(
        self, call: CallInfo, reply: ResolvedReply, serial: int, chunk_size: int | None
    ) -> list[bytes]:
        groups: list[list[dict[str, Any]]] = [
            [{"text": piece}] for piece in split_text(reply.text, chunk_size)
        ]
        if reply.blocked_prompt:
            groups = []  # one chunk: the prompt's feedback
        groups += [[part] for part in _parts(reply) if "functionCall" in part]
        if not groups:
            groups = [[{"text": ""}]]
        chunks = [
            self._chunk(call, reply, serial, parts, final=number == len(groups) - 1)
            for number, parts in enumerate(groups)
        ]
        if not call.sse:
            return [("[" + ",\r\n".join(dumps(chunk) for chunk in chunks) + "]").encode()]
        return [f"data: {dumps(chunk)}\r\n\r\n".encode() for chunk in chunks]

    def error_body(self, status: int, message: str, error_type: str | None, serial: int) -> Any:
        return {
            "error": {
                "code": status,
                "message": message,
                "status": error_type or _STATUS.get(status, "UNKNOWN"),
            }
        }

    def _chunk(
        self,
        call: CallInfo,
        reply: ResolvedReply,
        serial: int,
        parts: list[dict[str, Any]],
        *,
        final: bool,
    ) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "usageMetadata": gemini_usage(reply, final=final),
            "modelVersion": reply.model,
            "responseId": f"fake{serial:08d}",
        }
        if reply.blocked_prompt:
            chunk["promptFeedback"] = {"blockReason": "SAFETY"}
        else:
            candidate: dict[str, Any] = {
                "content": {"role": "model", "parts": parts},
                "index": 0,
            }
            if final:
                candidate["finishReason"] = _FINISH[reply.finish_reason]
            chunk["candidates"] = [candidate]
        if call.vertex:
            chunk["createTime"] = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        return chunk


def gemini_usage(reply: ResolvedReply, *, final: bool = True) -> dict[str, Any]:
    """`usageMetadata`; intermediate stream chunks only know the prompt size."""
    usage: dict[str, Any] = {
        "promptTokenCount": reply.input_tokens,
        "totalTokenCount": reply.input_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": reply.input_tokens}],
    }
    if reply.cached_tokens:
        usage["cachedContentTokenCount"] = reply.cached_tokens
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": reply.cached_tokens}]
    if final:
        usage["candidatesTokenCount"] = reply.visible_output_tokens
        usage["totalTokenCount"] = reply.total_tokens
        if reply.reasoning_tokens:
            usage["thoughtsTokenCount"] = reply.reasoning_tokens
    return usage


def _parts(reply: ResolvedReply) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if reply.text or not reply.tool_calls:
        parts.append({"text": reply.text})
    for tc in reply.tool_calls:
        call: dict[str, Any] = {"name": tc.name, "args": tc.arguments_object()}
        if tc.id is not None:
            call["id"] = tc.id
        parts.append({"functionCall": call})
    return parts
