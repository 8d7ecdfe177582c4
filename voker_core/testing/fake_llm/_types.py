"""Provider-neutral data types of the fake LLM server: what to answer and what was asked.

`Reply` scripts one answer, `ToolCall` and `Usage` are its parts; `RecordedRequest` is what the
server saw, and `ResolvedReply` is what it actually answered (text, ids and token counts filled in),
so a test can compare what a wrapper recorded with what the provider reported::

    server.queue_reply(Reply(text="Hi!", usage=Usage(cached_tokens=3, reasoning_tokens=2)))
    client.chat.completions.create(...)
    sent = server.requests[-1].reply
    assert sent.input_tokens >= 3 and sent.reasoning_tokens == 2
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]
"""Provider-neutral stop reason; each provider module maps it to its own wire value."""


@dataclass(frozen=True)
class ToolCall:
    """One function/tool call the fake model makes.

    `arguments` is a mapping (sent as JSON) or a raw string sent verbatim (to test a client's
    handling of malformed arguments). `id` is generated per provider when left out (Gemini sends
    no id unless one is given, like the real API).
    """

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def arguments_json(self) -> str:
        """The arguments as the JSON text OpenAI sends."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(dict(self.arguments), separators=(",", ":"), ensure_ascii=False)

    def arguments_object(self) -> dict[str, Any]:
        """The arguments as the JSON object Anthropic and Gemini send (`{}` if unparsable)."""
        if not isinstance(self.arguments, str):
            return dict(self.arguments)
        try:
            value = json.loads(self.arguments)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Usage:
    """Token-count overrides, in Voker's normalised convention (DESIGN §5).

    `input_tokens` counts *all* input tokens, cached ones included; `cached_tokens` (cache reads)
    and `cache_creation_tokens` are subsets of it. `output_tokens` includes `reasoning_tokens`.
    `None` means "derive it": input = words in the request's messages, output = words in the reply
    plus `reasoning_tokens`. Each provider module converts to its wire convention (Anthropic's
    `input_tokens` excludes cache reads/writes, Gemini's `candidatesTokenCount` excludes thoughts).
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True)
class Reply:
    """One scripted answer. Every field is optional; the default is an echo of the last user message.

    - `text`: the reply text (`None`: derived — `structured` as JSON, else a value synthesised from
      a requested JSON schema, else `"Echo: <last user text>"`; empty when only tool calls).
    - `structured`: a JSON-serialisable value sent as the reply text (structured output / parse()).
    - `tool_calls`: function calls (OpenAI `tool_calls` / Responses `function_call` items /
      Anthropic `tool_use` blocks / Gemini `functionCall` parts).
    - `finish_reason`: neutral stop reason (default `tool_calls` when calling tools, else `stop`).
    - `model`: the model the response names (default: the requested one).
    - `usage`: token-count overrides (see `Usage`).
    - `error_status`: answer with this HTTP status and a provider-shaped error body instead;
      `error_message`/`error_type` override the body's message and type (OpenAI `type`,
      Anthropic `error.type`, Google `status`); `retry_after` adds a `retry-after` header (seconds).
    - `headers`: extra response headers.
    - `delay`: seconds to wait before answering (to trigger client timeouts).
    - `chunk_delay`: seconds between streamed events; `chunk_size`: characters per text delta
      (default: one word per delta).
    - `disconnect_after`: drop the connection after this many streamed events, to simulate a
      network failure mid-stream; 0 drops it before any response (streaming or not — the only
      value that affects a non-streaming answer).
    - `failed`: the model fails after an HTTP 200, as the Responses API reports it: a response
      with `status: "failed"` and an `error` (`error_message` its message); streamed, an
      `error` event in place of `response.completed`. A streamed Anthropic message sends an
      `error` event (`overloaded_error`) in place of `message_delta`/`message_stop`. Other APIs
      ignore it.
    - `blocked_prompt`: Gemini refuses the prompt itself: no candidates, and
      `promptFeedback.blockReason: SAFETY`. Other APIs ignore it.
    """

    text: str | None = None
    structured: Any = None
    tool_calls: Sequence[ToolCall] = ()
    finish_reason: FinishReason | None = None
    model: str | None = None
    usage: Usage = field(default_factory=Usage)
    error_status: int | None = None
    error_message: str | None = None
    error_type: str | None = None
    retry_after: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    chunk_delay: float = 0.0
    chunk_size: int | None = None
    disconnect_after: int | None = None
    failed: bool = False
    blocked_prompt: bool = False


@dataclass(frozen=True)
class ResolvedReply:
    """What the server actually answered to one request (all derived values filled in).

    Token counts are in the normalised convention of `Usage`, so they can be compared directly
    with a Voker `llm` event's `usage`.
    """

    model: str
    text: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: FinishReason
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cache_creation_tokens: int
    reasoning_tokens: int
    failed: bool = False
    failure_message: str | None = None
    blocked_prompt: bool = False

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    @property
    def visible_output_tokens(self) -> int:
        """Output tokens that are not reasoning (Gemini's `candidatesTokenCount`)."""
        return self.output_tokens - self.reasoning_tokens

    @property
    def uncached_input_tokens(self) -> int:
        """Input tokens that are neither cache reads nor writes (Anthropic's `input_tokens`)."""
        return self.input_tokens - self.cached_tokens - self.cache_creation_tokens


@dataclass
class RecordedRequest:
    """One HTTP request the server received, recorded before it answered.

    `api` is `openai-chat-completions`, `openai-responses`, `anthropic-messages`, `gemini-models`
    or `None` for an unknown path. `headers` keys are lower-case. `body` is the parsed JSON
    (`None` if there was none or it was not JSON). `status` and `reply` are filled in once the
    answer is decided (`reply` is `None` for error answers).
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    raw_body: bytes
    api: str | None
    model: str | None
    stream: bool
    status: int | None = None
    reply: ResolvedReply | None = None

    def header(self, name: str) -> str | None:
        """A request header by case-insensitive name."""
        return self.headers.get(name.lower())

    def query_value(self, name: str) -> str | None:
        """The first value of a query-string parameter."""
        values = self.query.get(name)
        return values[0] if values else None
