"""Shared pieces of the Gemini wrapper tests: clients on the fake server, event checks."""

from __future__ import annotations

import json
from typing import Any

from google import genai
from google.genai import types
from google.oauth2.credentials import Credentials

from voker_core.ai import provider_gemini

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
MODEL = "gemini-2.5-flash"
PROMPT = "hello there world"

# Fields that differ between two identical requests to the fake server (response ids, Vertex
# timestamps, and the HTTP headers the SDK attaches, which carry per-request ids).
_VOLATILE = frozenset({"response_id", "create_time", "sdk_http_response"})


def dump(obj: Any) -> Any:
    """A genai object as the JSON the SDK itself makes of it (``to_json_dict``: no nulls)."""
    if isinstance(obj, (list, tuple)):
        return [dump(item) for item in obj]
    if hasattr(obj, "to_json_dict"):
        return json.loads(json.dumps(obj.to_json_dict()))
    return obj


def normalise(value: Any) -> Any:
    """``value`` without the fields that differ from one request to the next."""
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def client_options(fake_llm: Any, *, vertex: bool = False, timeout_ms: int | None = None) -> Any:
    http_options = types.HttpOptions(base_url=fake_llm.gemini_base_url, timeout=timeout_ms)
    if vertex:
        return {
            "vertexai": True,
            "project": "my-project",
            "location": "us-central1",
            "credentials": Credentials(token="fake-token"),
            "http_options": http_options,
        }
    return {"api_key": "fake-key", "http_options": http_options}


def wrapped(fake_llm: Any, voker_client: Any, **options: Any) -> provider_gemini.Client:
    return provider_gemini.Client(voker_client=voker_client, **client_options(fake_llm, **options))


def plain(fake_llm: Any, **options: Any) -> genai.Client:
    return genai.Client(**client_options(fake_llm, **options))


def llm_events(voker_client: Any, voker_server: Any, **filters: Any) -> list[dict[str, Any]]:
    """Every ``llm`` event on the devserver once the client has delivered what it queued."""
    assert voker_client.flush(10), "the Voker client did not drain its queue"
    return voker_server.events(event_name="llm", **filters)  # type: ignore[no-any-return]


def one_event(voker_client: Any, voker_server: Any, **filters: Any) -> dict[str, Any]:
    events = llm_events(voker_client, voker_server, **filters)
    assert len(events) == 1, [e["properties"].get("inputs") for e in events]
    return events[0]


def check_associations(event: dict[str, Any]) -> None:
    assert event["session"] == VOKER["voker_session"]
    assert event["agent"] == VOKER["voker_agent"]
    assert event["agent_version"] == VOKER["voker_agent_version"]
    assert event["person"] == VOKER["voker_person"]


def check_usage(props: dict[str, Any], reply: Any) -> None:
    """The event's usage is the fake server's reply in the normalised convention: Gemini's
    thinking tokens are counted into ``output_tokens``; its prompt count already holds the
    cached tokens; it reports no cache writes."""
    usage = props["usage"]
    assert usage["input_tokens"] == reply.input_tokens
    assert usage["output_tokens"] == reply.output_tokens
    assert usage["total_tokens"] == reply.total_tokens
    assert usage["cache_read_input_tokens"] == (reply.cached_tokens or None)
    assert usage["cache_creation_input_tokens"] is None
    assert usage["reasoning_tokens"] == (reply.reasoning_tokens or None)


def text_of(response: dict[str, Any]) -> str:
    """The text of a response (as JSON): its first candidate's text parts."""
    parts = response["candidates"][0]["content"]["parts"]
    return "".join(part.get("text", "") for part in parts if not part.get("thought"))
