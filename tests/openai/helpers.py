"""Shared pieces of the OpenAI wrapper tests: clients on the fake server, event checks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import openai._base_client

from voker_core.ai import provider_openai

#: The HTTP library the installed openai is built on (httpx2 from openai 2.x, httpx before): a
#: mock transport or an http_client handed to the SDK must be that library's.
HTTP: Any = getattr(openai._base_client, "httpx2", None) or openai._base_client.httpx

#: Every property DESIGN §5 puts on an ``llm`` event (``time_to_first_token_ms``: streams only).
EVENT_KEYS = frozenset(
    {
        "api",
        "provider",
        "model",
        "inputs",
        "output",
        "stream",
        "started_at",
        "latency_ms",
        "usage",
        "finish_reason",
        "error",
    }
)
VOKER = {
    "voker_agent": "support-bot",
    "voker_session": "conv-1",
    "voker_agent_version": "v1",
    "voker_person": "user-7",
}
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "hello there world"},
]
CHAT_ARGS: dict[str, Any] = {"model": "gpt-4.1-mini", "messages": MESSAGES}
RESPONSES_ARGS: dict[str, Any] = {"model": "gpt-4.1-mini", "input": "hello there world"}

# Fields that differ between two identical requests to the fake server.
_VOLATILE = frozenset({"id", "created", "created_at", "completed_at", "item_id"})


def dump(obj: Any) -> Any:
    """A provider object as JSON data (what the devserver stores is JSON too)."""
    if hasattr(obj, "model_dump"):
        return json.loads(obj.model_dump_json(warnings=False))
    if isinstance(obj, (list, tuple)):
        return [dump(item) for item in obj]
    return obj


def normalise(value: Any) -> Any:
    """``value`` without the ids and timestamps that differ from one request to the next."""
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def client_options(fake_llm: Any, **options: Any) -> dict[str, Any]:
    return {
        "api_key": "fake-key",
        "base_url": fake_llm.openai_base_url,
        "max_retries": 0,
        **options,
    }


def azure_options(fake_llm: Any, **options: Any) -> dict[str, Any]:
    """Options of an Azure client served by the fake server's deployment routes."""
    return {
        "azure_endpoint": fake_llm.azure_endpoint,
        "api_version": "2024-10-21",
        "api_key": "fake-key",
        "max_retries": 0,
        **options,
    }


def wrapped(fake_llm: Any, voker_client: Any, **options: Any) -> provider_openai.OpenAI:
    return provider_openai.OpenAI(voker_client=voker_client, **client_options(fake_llm, **options))


def awrapped(fake_llm: Any, voker_client: Any, **options: Any) -> provider_openai.AsyncOpenAI:
    return provider_openai.AsyncOpenAI(
        voker_client=voker_client, **client_options(fake_llm, **options)
    )


def plain(fake_llm: Any, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(**client_options(fake_llm, **options))


def aplain(fake_llm: Any, **options: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(**client_options(fake_llm, **options))


def llm_events(voker_client: Any, voker_server: Any, **filters: Any) -> list[dict[str, Any]]:
    """Every ``llm`` event on the devserver once the client has delivered what it queued."""
    assert voker_client.flush(10), "the Voker client did not drain its queue"
    return voker_server.events(event_name="llm", **filters)


def one_event(voker_client: Any, voker_server: Any, **filters: Any) -> dict[str, Any]:
    events = llm_events(voker_client, voker_server, **filters)
    assert len(events) == 1, [e["properties"].get("api") for e in events]
    return events[0]


def check_associations(event: dict[str, Any]) -> None:
    assert event["session"] == VOKER["voker_session"]
    assert event["agent"] == VOKER["voker_agent"]
    assert event["agent_version"] == VOKER["voker_agent_version"]
    assert event["person"] == VOKER["voker_person"]


def check_usage(props: dict[str, Any], reply: Any) -> None:
    """The event's usage is the fake server's reply in the normalised convention."""
    usage = props["usage"]
    assert usage["input_tokens"] == reply.input_tokens
    assert usage["output_tokens"] == reply.output_tokens
    assert usage["total_tokens"] == reply.total_tokens
    assert usage["cache_read_input_tokens"] == reply.cached_tokens
    assert usage["reasoning_tokens"] == reply.reasoning_tokens
    assert usage["cache_creation_input_tokens"] in (None, 0)


def chat_text(chunks: Iterator[Any] | list[Any]) -> str:
    """The text a list of chat chunks spells."""
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def chunk_fields(chunks: list[Any]) -> list[dict[str, Any]]:
    """What the caller can read off each chunk, as the SDK's ``to_dict()`` shows it (only the
    fields the server sent), without the ids that differ between two requests."""
    out = []
    for chunk in chunks:
        fields = chunk.to_dict()
        fields.pop("id", None)
        fields.pop("created", None)
        out.append(fields)
    return out
