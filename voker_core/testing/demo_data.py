"""Fill a Voker server with realistic demo sessions, through the real :class:`ApiClient`.

The events have exactly the shapes our wrappers and the LangChain handler record
(docs/events.md): OpenAI chat completions with a tool call and a streamed answer, an OpenAI
Responses call from a background task, Anthropic messages with ``tool_use``/``tool_result``
blocks, a Gemini ``function_call``, a LangChain agent run (``chain``, ``llm`` and ``tool``
events tied by ``run_id``/``parent_run_id``/``trace_id``), a rate-limited call with an
``error``, a custom ``feedback`` event, people with properties and agents with versions.

Usage::

    from voker_core.testing.demo_data import populate_demo_data

    demo = populate_demo_data("http://127.0.0.1:8787", "dev-key")
    demo.sessions["support"]       # a session id: a chat with a tool call, a good screenshot
    demo.event_count               # how many events were sent

Every call creates new sessions (ids carry a random suffix), so it can run against a server
that already holds data.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from voker_core.api_client import ApiClient

__all__ = ["DEMO_AGENTS", "DEMO_PEOPLE", "DemoData", "populate_demo_data"]

#: Agents and their versions (name -> description), as an app would register them.
DEMO_AGENTS: dict[str, tuple[str, dict[str, str]]] = {
    "support-bot": (
        "Answers order and shipping questions in the web shop (Django)",
        {"v1": "first prompt", "v2": "adds the order lookup tool"},
    ),
    "docs-helper": ("Answers questions about the SDK docs (Flask)", {"v1": "Claude, docs search"}),
    "research-agent": ("LangGraph agent with a weather tool", {"v3": "tool-calling graph"}),
    "digest-worker": ("Celery task that summarises support threads", {"v1": "Responses API"}),
    "trip-planner": ("Plans day trips with Gemini and a places tool", {"v1": "first prompt"}),
}

#: People and their properties (never secrets: what a Django/Flask integration would send).
DEMO_PEOPLE: dict[str, dict[str, Any]] = {
    "user-42": {
        "username": "ada",
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "plan": "pro",
    },
    "user-7": {"username": "grace", "email": "grace@example.com", "plan": "free"},
}

_SUPPORT_SYSTEM = (
    "You are the support assistant of Northwind Shop. Be brief and friendly. Use lookup_order "
    "to check an order before answering questions about it."
)
_DOCS_SYSTEM = "You answer questions about the voker-integrations SDK. Cite the docs page."
_RESEARCH_SYSTEM = "You are a helpful assistant. Use tools when they help."


@dataclass(frozen=True)
class DemoData:
    """What :func:`populate_demo_data` created."""

    sessions: dict[str, str]  # scenario -> session id
    event_count: int
    fingerprint_id: str
    people: list[str] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)


class _Sender:
    """Queues the demo's events, then sends them in order on a plausible timeline.

    Each event waits ``pause_s`` after the previous call ended (a person reading and typing, or
    an agent's next step), then its call takes ``latency_ms``; the timeline is placed so that the
    last call ends now, so the ``started_at`` times agree with when the server stored them.
    """

    def __init__(self, api: ApiClient, fingerprint_id: str) -> None:
        self.api = api
        self.fingerprint_id = fingerprint_id
        self.count = 0
        self._queue: list[tuple[str, dict[str, Any], dict[str, str], float]] = []

    def send(
        self,
        event_name: str,
        properties: Mapping[str, Any],
        who: Mapping[str, str],
        *,
        pause_s: float = 2.0,
    ) -> None:
        """Queue one event; ``who`` holds its session, agent, agent_version and person."""
        self._queue.append((event_name, dict(properties), dict(who), pause_s))

    def flush(self) -> None:
        """Give the queued events their ``started_at`` times and send them, oldest first."""

        def latency_s(props: Mapping[str, Any]) -> float:
            latency = props.get("latency_ms")
            return latency / 1000.0 if isinstance(latency, (int, float)) else 0.0

        total = sum(pause + latency_s(props) for _, props, _, pause in self._queue)
        clock = datetime.now(timezone.utc) - timedelta(seconds=total)
        for event_name, props, who, pause in self._queue:
            clock += timedelta(seconds=pause)
            if "latency_ms" in props:
                props["started_at"] = clock.isoformat().replace("+00:00", "Z")
            clock += timedelta(seconds=latency_s(props))
            self.api.events.create(
                event_name=event_name,
                properties=props,
                fingerprint_id=self.fingerprint_id,
                idempotency_key=str(uuid.uuid4()),
                **who,
            )
            self.count += 1
        self._queue.clear()


def populate_demo_data(base_url: str, api_key: str, *, timeout: float = 10.0) -> DemoData:
    """Create the demo agents, people and sessions on the server at ``base_url``."""
    suffix = uuid.uuid4().hex[:8]
    sessions = {
        "support": f"web-{suffix}-ada",
        "support_retry": f"web-{suffix}-ada-2",
        "docs": f"flask-{suffix}-anon",
        "research": f"lc-{suffix}-grace",
        "digest": f"celery-{suffix}-digest",
        "trip": f"gemini-{suffix}-grace",
    }
    with ApiClient(api_key=api_key, base_url=base_url, timeout=timeout) as api:
        for name, (description, versions) in DEMO_AGENTS.items():
            api.agents.create(agent_name=name, description=description)
            for version, about in versions.items():
                api.agent_versions.create(
                    agent_name=name, agent_version_name=version, description=about
                )
        for person_id, properties in DEMO_PEOPLE.items():
            api.people.create(person_id=person_id, properties=properties)
        fingerprint = api.fingerprints.create()
        sender = _Sender(api, fingerprint.fingerprint_id)
        _support_chat(sender, sessions["support"])
        _support_rate_limited(sender, sessions["support_retry"])
        _docs_chat(sender, sessions["docs"])
        _research_agent(sender, sessions["research"])
        _digest_task(sender, sessions["digest"], source=sessions["support"])
        _trip_planner(sender, sessions["trip"])
        sender.flush()
    return DemoData(
        sessions=sessions,
        event_count=sender.count,
        fingerprint_id=fingerprint.fingerprint_id,
        people=list(DEMO_PEOPLE),
        agents=list(DEMO_AGENTS),
    )


# -- provider shapes ----------------------------------------------------------------------------


def _usage(
    inp: int,
    out: int,
    *,
    cached: int | None = 0,
    created: int | None = None,
    reasoning: int | None = 0,
) -> dict[str, Any]:
    return {
        "input_tokens": inp,
        "output_tokens": out,
        "total_tokens": inp + out,
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": created,
        "reasoning_tokens": reasoning,
    }


def _openai_tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _openai_chat(
    messages: list[dict[str, Any]],
    *,
    answer: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    usage: tuple[int, int],
    latency_ms: float,
    stream: bool = False,
    ttft_ms: float | None = None,
    model: str = "gpt-4o-mini-2024-07-18",
) -> dict[str, Any]:
    finish = "tool_calls" if tool_calls else "stop"
    inputs: dict[str, Any] = {"model": "gpt-4o-mini", "messages": messages, "temperature": 0.3}
    if tool_calls is not None or any(m.get("tool_calls") for m in messages):
        inputs["tools"] = [_LOOKUP_ORDER_TOOL]
    if stream:
        inputs["stream"] = True
        inputs["stream_options"] = {"include_usage": True}
    output = {
        "id": "chatcmpl-" + uuid.uuid4().hex[:24],
        "object": "chat.completion",
        "created": 1767225600,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": answer,
                    "refusal": None,
                    "tool_calls": tool_calls,
                },
                "finish_reason": finish,
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
        },
    }
    props: dict[str, Any] = {
        "api": "openai-chat-completions",
        "provider": "openai",
        "model": model,
        "inputs": inputs,
        "output": output,
        "stream": stream,
        "latency_ms": latency_ms,
        "usage": _usage(*usage),
        "finish_reason": finish,
        "error": None,
    }
    if stream:
        props["time_to_first_token_ms"] = ttft_ms
    return props


_LOOKUP_ORDER_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "Status, carrier and delivery estimate of an order",
        "parameters": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
        },
    },
}


# -- scenarios ----------------------------------------------------------------------------------


def _support_chat(sender: _Sender, session: str) -> None:
    """Django + wrapped OpenAI client: a logged-in user, a tool call, a streamed answer."""
    who = {"session": session, "agent": "support-bot", "agent_version": "v2", "person": "user-42"}
    system = {"role": "system", "content": _SUPPORT_SYSTEM}
    ask = {
        "role": "user",
        "content": "Hi! My order A-1042 still hasn't arrived. Can you check where it is?",
    }
    call = _openai_tool_call("call_8fQm2Lx", "lookup_order", '{"order_id": "A-1042"}')
    sender.send(
        "llm",
        _openai_chat([system, ask], tool_calls=[call], usage=(212, 19), latency_ms=842.6),
        who,
        pause_s=5,
    )
    result = {
        "role": "tool",
        "tool_call_id": "call_8fQm2Lx",
        "content": '{"status": "in_transit", "carrier": "DHL", "last_scan": "Leipzig hub, '
        'today 07:42", "eta": "Thursday, 14 May"}',
    }
    answer = (
        "Good news: order A-1042 is on its way with DHL. It was scanned at the Leipzig hub this "
        "morning at 07:42 and should reach you on Thursday, 14 May.\n\n"
        "Would you like the tracking link by email?"
    )
    history: list[dict[str, Any]] = [
        system,
        ask,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        result,
    ]
    sender.send(
        "llm",
        _openai_chat(
            history,
            answer=answer,
            usage=(298, 61),
            latency_ms=1630.2,
            stream=True,
            ttft_ms=312.9,
        ),
        who,
    )
    follow_up = {"role": "user", "content": "Yes please. And can it go to my office instead?"}
    answer2 = (
        "I've emailed the tracking link to ada@example.com. DHL can redirect the parcel once it "
        "is out for delivery: open the link and choose \u201cChange delivery address\u201d. "
        "Your office address needs to be in the same country."
    )
    sender.send(
        "llm",
        _openai_chat(
            [*history, {"role": "assistant", "content": answer}, follow_up],
            answer=answer2,
            usage=(377, 58),
            latency_ms=1211.0,
            stream=True,
            ttft_ms=287.4,
        ),
        who,
        pause_s=14,
    )
    sender.send("feedback", {"rating": "thumbs_up", "message_index": 3}, who, pause_s=12)


def _support_rate_limited(sender: _Sender, session: str) -> None:
    """A call that failed: the event is still recorded, with ``error``."""
    props = _openai_chat(
        [
            {"role": "system", "content": _SUPPORT_SYSTEM},
            {"role": "user", "content": "Do you ship to Norway?"},
        ],
        usage=(0, 0),
        latency_ms=118.4,
    )
    props.update(
        output=None,
        usage=None,
        finish_reason=None,
        model="gpt-4o-mini",
        error={
            "type": "RateLimitError",
            "message": "Error code: 429 - {'error': {'message': 'Rate limit reached for "
            "gpt-4o-mini on requests per min (RPM): Limit 3, Used 3, Requested 1.', "
            "'type': 'requests', 'code': 'rate_limit_exceeded'}}",
            "status_code": 429,
        },
    )
    who = {"session": session, "agent": "support-bot", "agent_version": "v2", "person": "user-42"}
    sender.send("llm", props, who, pause_s=30)


def _anthropic(
    messages: list[dict[str, Any]],
    content: list[dict[str, Any]],
    *,
    stop: str,
    tokens: tuple[int, int, int],
    latency_ms: float,
    ttft_ms: float | None = None,
) -> dict[str, Any]:
    fresh, cached, out = tokens
    props: dict[str, Any] = {
        "api": "anthropic-messages",
        "provider": "anthropic",
        "model": "claude-sonnet-4-5-20250929",
        "inputs": {
            "model": "claude-sonnet-4-5",
            "max_tokens": 1024,
            "system": [
                {"type": "text", "text": _DOCS_SYSTEM, "cache_control": {"type": "ephemeral"}}
            ],
            "messages": messages,
            "tools": [
                {
                    "name": "search_docs",
                    "description": "Full-text search over the SDK documentation",
                    "input_schema": {
                        "type": "object",
                        "properties": {"query": {"type": "string"}},
                    },
                }
            ],
        },
        "output": {
            "id": "msg_" + uuid.uuid4().hex[:24],
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {
                "input_tokens": fresh,
                "cache_read_input_tokens": cached,
                "cache_creation_input_tokens": 0,
                "output_tokens": out,
            },
        },
        "stream": ttft_ms is not None,
        "latency_ms": latency_ms,
        "usage": _usage(fresh + cached, out, cached=cached, created=0, reasoning=None),
        "finish_reason": stop,
        "error": None,
    }
    if ttft_ms is not None:
        props["time_to_first_token_ms"] = ttft_ms
    return props


def _docs_chat(sender: _Sender, session: str) -> None:
    """Flask + wrapped Anthropic client: an anonymous visitor, a docs search tool."""
    who = {"session": session, "agent": "docs-helper", "agent_version": "v1"}
    question = {
        "role": "user",
        "content": "How do I set the Voker session from a request header in Flask?",
    }
    tool_use = {
        "type": "tool_use",
        "id": "toolu_01D7xk",
        "name": "search_docs",
        "input": {"query": "flask session header"},
    }
    sender.send(
        "llm",
        _anthropic(
            [question],
            [{"type": "text", "text": "Let me check the Flask page."}, tool_use],
            stop="tool_use",
            tokens=(96, 1840, 54),
            latency_ms=1502.3,
        ),
        who,
        pause_s=25,
    )
    result = {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "toolu_01D7xk",
                "content": "docs/flask.md: VOKER_SESSION_HEADER (default X-Voker-Session) names "
                "the header; without it the session id is kept in flask.session.",
            }
        ],
    }
    answer = (
        "Send the header `X-Voker-Session: <your id>` with each request; the extension reads "
        "it automatically. To use another header name, set `VOKER_SESSION_HEADER` in your "
        "Flask config. Without the header, an id kept in `flask.session` is used (docs/flask.md)."
    )
    sender.send(
        "llm",
        _anthropic(
            [question, {"role": "assistant", "content": [tool_use]}, result],
            [{"type": "text", "text": answer}],
            stop="end_turn",
            tokens=(212, 1840, 88),
            latency_ms=2210.8,
            ttft_ms=640.2,
        ),
        who,
    )


def _research_agent(sender: _Sender, session: str) -> None:
    """A LangGraph agent through VokerCallbackHandler: llm -> tool -> llm, then the chain."""
    who = {
        "session": session,
        "agent": "research-agent",
        "agent_version": "v3",
        "person": "user-7",
    }
    root, llm1, tool, llm2 = (str(uuid.uuid4()) for _ in range(4))
    question = {"role": "user", "content": "Should I bring an umbrella in Paris this afternoon?"}
    system = {"role": "system", "content": _RESEARCH_SYSTEM}
    call = {"id": "call_wX31", "name": "get_weather", "args": {"city": "Paris"}}

    def ids(run: str) -> dict[str, Any]:
        return {"run_id": run, "parent_run_id": root, "trace_id": root}

    def llm(messages: list[dict[str, Any]], output: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {
            "api": "langchain",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "inputs": {"messages": messages, "model_name": "gpt-4o-mini", "temperature": 0.0},
            "output": output,
            "stream": False,
            **extra,
        }

    first = {"role": "assistant", "content": "", "tool_calls": [call]}
    sender.send(
        "llm",
        llm(
            [system, question],
            first,
            latency_ms=733.0,
            usage=_usage(118, 17),
            finish_reason="tool_calls",
            error=None,
            name="ChatOpenAI",
            **ids(llm1),
        ),
        who,
        pause_s=25,
    )
    weather = "Paris: light rain from 14:00 to 18:00, 14 \u00b0C, 80% chance of showers."
    sender.send(
        "tool",
        {
            "name": "get_weather",
            "input": {"city": "Paris"},
            "output": weather,
            "tool_call_id": "call_wX31",
            "latency_ms": 211.5,
            "error": None,
            **ids(tool),
        },
        who,
    )
    reply = (
        "Yes \u2014 light rain is expected in Paris from about 2 pm to 6 pm (80% chance of "
        "showers, 14 \u00b0C). Take an umbrella and a light jacket."
    )
    tool_message = {"role": "tool", "content": weather, "tool_call_id": "call_wX31"}
    sender.send(
        "llm",
        llm(
            [system, question, first, tool_message],
            {"role": "assistant", "content": reply},
            latency_ms=981.2,
            usage=_usage(171, 42),
            finish_reason="stop",
            error=None,
            name="ChatOpenAI",
            **ids(llm2),
        ),
        who,
    )
    sender.send(
        "chain",
        {
            "name": "LangGraph",
            "inputs": {"messages": [question]},
            "outputs": {
                "messages": [question, first, tool_message, {"role": "assistant", "content": reply}]
            },
            "latency_ms": 1958.4,
            "error": None,
            "run_id": root,
            "parent_run_id": None,
            "trace_id": root,
        },
        who,
    )


def _digest_task(sender: _Sender, session: str, *, source: str) -> None:
    """A Celery task (context carried in the message headers) using the Responses API."""
    summary = (
        "Customer asked about the late order A-1042; it is in transit with DHL (ETA 14 May). "
        "Tracking link sent; customer wants delivery to their office."
    )
    props = {
        "api": "openai-responses",
        "provider": "openai",
        "model": "gpt-4.1-mini-2025-04-14",
        "inputs": {
            "model": "gpt-4.1-mini",
            "instructions": "Summarise the support conversation in two sentences for the CRM.",
            "input": f"Conversation {source}: order A-1042 late, in transit with DHL, "
            "customer asks to redirect to office.",
        },
        "output": {
            "id": "resp_" + uuid.uuid4().hex[:24],
            "object": "response",
            "status": "completed",
            "model": "gpt-4.1-mini-2025-04-14",
            "output": [
                {
                    "id": "msg_" + uuid.uuid4().hex[:16],
                    "type": "message",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": summary, "annotations": []}],
                }
            ],
            "usage": {"input_tokens": 88, "output_tokens": 37, "total_tokens": 125},
        },
        "stream": False,
        "latency_ms": 1420.7,
        "usage": _usage(88, 37),
        "finish_reason": "completed",
        "error": None,
        "celery_task": "crm.summarise_thread",
    }
    who = {"session": session, "agent": "digest-worker", "agent_version": "v1", "person": "user-42"}
    sender.send("llm", props, who, pause_s=20)


def _trip_planner(sender: _Sender, session: str) -> None:
    """A Gemini chat with a function call and its response."""
    who = {"session": session, "agent": "trip-planner", "agent_version": "v1", "person": "user-7"}
    ask = {"role": "user", "parts": [{"text": "Plan a rainy-day afternoon in Lisbon for two."}]}
    call = {"function_call": {"name": "find_places", "args": {"city": "Lisbon", "indoor": True}}}
    config = {"system_instruction": "You plan short trips. Use find_places for venues."}

    def gemini(contents: list[dict[str, Any]], parts: list[dict[str, Any]], **extra: Any) -> Any:
        return {
            "api": "gemini-models",
            "provider": "gemini",
            "model": "gemini-2.5-flash",
            "inputs": {"model": "gemini-2.5-flash", "contents": contents, "config": config},
            "output": {
                "candidates": [
                    {"content": {"role": "model", "parts": parts}, "finish_reason": "STOP"}
                ],
                "model_version": "gemini-2.5-flash",
            },
            "stream": False,
            "error": None,
            **extra,
        }

    sender.send(
        "llm",
        gemini([ask], [call], latency_ms=690.4, usage=_usage(61, 14), finish_reason="stop"),
        who,
        pause_s=20,
    )
    places = {
        "places": [
            "Museu Nacional do Azulejo",
            "LX Factory (covered market)",
            "Time Out Market",
        ]
    }
    response = {"function_response": {"name": "find_places", "response": places}}
    plan = (
        "14:00 \u2014 Museu Nacional do Azulejo (tiles, about 2 h).\n"
        "16:30 \u2014 Coffee and browsing at LX Factory.\n"
        "19:00 \u2014 Dinner at Time Out Market."
    )
    sender.send(
        "llm",
        gemini(
            [ask, {"role": "model", "parts": [call]}, {"role": "user", "parts": [response]}],
            [{"text": plan}],
            latency_ms=1312.9,
            usage=_usage(140, 52),
            finish_reason="stop",
        ),
        who,
    )
