"""One session as a conversation: its events in order, a page of them at a time.

Each ``llm`` event shows the new turn's user messages and tool results, the model's answer and
tool calls, and its model, latency, time to first token, tokens and error; LangChain ``tool``,
``retriever`` and ``chain`` events and custom events get their own compact cards. The full event
is always one click away as raw JSON (a ``<details>`` element: no script needed).

Usage::

    html_text = render_session_page(summary, events, paging=Paging(1, 100, total), links=links, href=href)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from voker_core.devserver.dashboard.layout import Paging, page, pager
from voker_core.devserver.dashboard.markup import (
    Links,
    esc,
    fmt_clock,
    fmt_count,
    fmt_ms,
    fmt_time,
    pretty_json,
    short_json,
)
from voker_core.devserver.dashboard.transcript import Message, read_llm_event, text_of

__all__ = ["MAX_RAW_CHARS", "MAX_TEXT_CHARS", "render_session_page"]

#: Longest message text shown in the conversation; the rest is in the raw JSON.
MAX_TEXT_CHARS = 20_000
#: Longest raw JSON inlined per event; a bigger event links to the JSON API instead.
MAX_RAW_CHARS = 200_000

_DOT = " \u00b7 "
_ARROW = " \u2192 "


class _State:
    """What the page remembers while rendering its events in order."""

    def __init__(self) -> None:
        self.last_system: str | None = None
        self.tool_names: dict[str, str] = {}  # call id -> tool name, for results
        self.tool_event_calls: set[str] = set()  # call ids whose tool event shows the result
        self.several_agents = False  # then each event names its agent and version


def render_session_page(
    summary: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    *,
    paging: Paging,
    links: Links,
    href: Callable[[int], str],
) -> str:
    """The session page (see the module docstring); ``href(n)`` links to page ``n``."""
    session = str(summary["session"])
    state = _State()
    state.several_agents = len(summary.get("versions") or []) > 1
    for event in events:
        props = event.get("properties")
        if event.get("event_name") == "tool" and isinstance(props, Mapping):
            call_id = props.get("tool_call_id")
            if isinstance(call_id, str) and call_id:
                state.tool_event_calls.add(call_id)
    cards = [
        _event(event, paging.offset + index + 1, state, links, session)
        for index, event in enumerate(events)
    ]
    body = [
        f'<div class="crumbs"><a href="{esc(links.sessions())}">Sessions</a> / session</div>',
        f'<h1 class="id">{esc(session)}</h1>',
        _stats(summary, links),
        pager(href, paging, noun="events", shown=len(events)),
        "\n".join(cards),
        pager(href, paging, noun="events", shown=len(events)) if paging.pages > 1 else "",
    ]
    return page(f"Session {session}", "\n".join(body), links=links, active="sessions")


def _stats(summary: Mapping[str, Any], links: Links) -> str:
    agents = summary.get("versions") or []
    agent_html = (
        "<br>".join(
            f'<a href="{esc(links.sessions(agent=agent))}">{esc(agent)}</a>'
            + (f' <span class="muted">{esc(version)}</span>' if version else "")
            for agent, version in agents
        )
        or '<span class="muted">none</span>'
    )
    people = summary.get("people") or []
    people_html = (
        ", ".join(f'<a href="{esc(links.sessions(person=p))}">{esc(p)}</a>' for p in people)
        or '<span class="muted">anonymous</span>'
    )
    errors = int(summary.get("error_count") or 0)
    cells = [
        ("Agent", agent_html, ""),
        ("Person", people_html, ""),
        ("Events", fmt_count(summary.get("event_count")), ""),
        ("LLM calls", fmt_count(summary.get("llm_count")), ""),
        ("Tokens", fmt_count(summary.get("tokens")), ""),
        ("Errors", fmt_count(errors), " err" if errors else ""),
        ("First seen", esc(fmt_time(summary.get("first_seen"))), " small"),
        ("Last seen", esc(fmt_time(summary.get("last_seen"))), " small"),
    ]
    return (
        '<div class="stats">'
        + "".join(
            f'<div class="stat{css.replace(" small", "")}"><div class="label">{label}</div>'
            f'<div class="value{" small" if "small" in css else ""}">{value}</div></div>'
            for label, value, css in cells
        )
        + "</div>"
    )


# -- one event ----------------------------------------------------------------------------------


def _event(event: Mapping[str, Any], number: int, state: _State, links: Links, session: str) -> str:
    props = event.get("properties")
    props = props if isinstance(props, Mapping) else {}
    name = str(event.get("event_name"))
    error = props.get("error")
    failed = error is not None and error is not False
    nested = _is_nested(props)
    if name == "llm":
        body = _llm_body(props, state)
    elif name == "tool":
        body = _tool_body(props, state)
    elif name == "retriever":
        body = _retriever_body(props)
    elif name == "chain":
        body = _chain_body(props)
    else:
        body = _custom_body(props)
    css = ["event", f"ev-{_css_name(name)}"]
    if failed:
        css.append("failed")
    if nested:
        css.append("nested")
    if name in ("chain", "retriever") or name not in ("llm", "tool"):
        css.append("compact")
    parts = [
        f'<article class="{" ".join(css)}" id="e{number}">',
        _meta(event, props, number, state.several_agents),
        body,
        _error(error) if failed else "",
        _raw(event, number, links, session),
        "</article>",
    ]
    return "".join(parts)


def _is_nested(props: Mapping[str, Any]) -> bool:
    trace, run = props.get("trace_id"), props.get("run_id")
    return isinstance(trace, str) and isinstance(run, str) and trace != run


def _css_name(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower())[:40]


def _meta(event: Mapping[str, Any], props: Mapping[str, Any], number: int, show_agent: bool) -> str:
    name = str(event.get("event_name"))
    items = [f'<a class="n" href="#e{number}">#{number:,}</a>']
    if name == "llm":
        provider = props.get("provider")
        model = props.get("model")
        items.append('<span class="kind">LLM call</span>')
        if model:
            items.append(f'<span class="model">{esc(model)}</span>')
        if provider:
            items.append(f"<span>{esc(provider)}</span>")
        if props.get("stream") is True:
            items.append('<span class="pill">stream</span>')
    else:
        label = {"tool": "Tool", "retriever": "Retriever", "chain": "Chain"}.get(name)
        items.append(f'<span class="kind">{esc(label or name)}</span>')
        if label and props.get("name"):
            items.append(f'<span class="mono">{esc(props.get("name"))}</span>')
    latency = fmt_ms(props.get("latency_ms"))
    if latency:
        items.append(f'<span title="latency">latency {esc(latency)}</span>')
    ttft = fmt_ms(props.get("time_to_first_token_ms"))
    if ttft:
        items.append(f'<span title="time to first token">TTFT {esc(ttft)}</span>')
    usage = props.get("usage")
    if isinstance(usage, Mapping):
        items.append(_usage(usage))
    finish = props.get("finish_reason")
    if isinstance(finish, str) and finish:
        items.append(f'<span title="finish reason">\u2192 {esc(finish)}</span>')
    if props.get("error") is not None:
        items.append('<span class="pill err">error</span>')
    who = [str(v) for v in (event.get("agent"), event.get("agent_version")) if v]
    show_who = bool(who) and show_agent
    if show_who:
        items.append(f'<span class="right">{esc(_DOT.join(who))}</span>')
    # When the call began (the wrappers record it), else when the server stored the event.
    started = props.get("started_at")
    stamp = started if isinstance(started, str) else event.get("created_at")
    css = "" if show_who else ' class="right"'
    items.append(f'<span{css} title="{esc(stamp)}">{esc(fmt_clock(stamp))}</span>')
    return f'<div class="meta">{"".join(items)}</div>'


def _usage(usage: Mapping[str, Any]) -> str:
    total = usage.get("total_tokens")
    inp, out = usage.get("input_tokens"), usage.get("output_tokens")
    if not isinstance(total, (int, float)) and isinstance(inp, int) and isinstance(out, int):
        total = inp + out
    if not isinstance(total, (int, float)) or isinstance(total, bool):
        return ""
    detail = []
    if isinstance(inp, int):
        detail.append(f"{inp:,} in")
    if isinstance(out, int):
        detail.append(f"{out:,} out")
    cached = usage.get("cache_read_input_tokens")
    if isinstance(cached, int) and cached:
        detail.append(f"{cached:,} cached")
    reasoning = usage.get("reasoning_tokens")
    if isinstance(reasoning, int) and reasoning:
        detail.append(f"{reasoning:,} reasoning")
    suffix = f" ({', '.join(detail)})" if detail else ""
    return f'<span title="tokens">{esc(fmt_count(total))} tokens{esc(suffix)}</span>'


def _llm_body(props: Mapping[str, Any], state: _State) -> str:
    if "inputs" not in props and "output" not in props:
        return '<p class="muted">Content not captured (capture_content is off).</p>'
    turn = read_llm_event(props)
    parts = []
    if turn.system and turn.system != state.last_system:
        parts.append(
            '<details class="system"><summary>System prompt</summary>'
            f"<pre>{_clip(turn.system)}</pre></details>"
        )
        state.last_system = turn.system
    if turn.earlier:
        s = "" if turn.earlier == 1 else "s"
        parts.append(
            f'<div class="history">+ {turn.earlier:,} earlier message{s} sent as history '
            "(in the raw JSON)</div>"
        )
    for message in turn.prompt:
        if message.role == "tool" and message.call_id in state.tool_event_calls:
            continue  # the tool event above already shows this result
        parts.append(_message(message, state))
    for message in turn.answer:
        parts.append(_message(message, state))
    return "".join(parts)


def _message(message: Message, state: _State) -> str:
    if message.role == "tool":
        name = message.name or (state.tool_names.get(message.call_id or "") or "")
        label = f"<b>{esc(name)}</b>" if name else "tool"
        bad = " bad" if message.is_error else ""
        failed = " (failed)" if message.is_error else ""
        return (
            f'<div class="card result{bad}"><div class="head">Tool result \u00b7 {label}'
            f"{failed}</div><pre>{_clip(message.text)}</pre></div>"
        )
    parts = []
    if message.text:
        role = message.role if message.role in ("user", "assistant", "reasoning") else "system"
        who = {"user": "User", "assistant": "Assistant", "reasoning": "Reasoning"}.get(
            role, message.role
        )
        parts.append(
            f'<div class="msg {role}"><div class="who">{esc(who)}</div>'
            f'<div class="bubble">{_clip(message.text)}</div></div>'
        )
    for call in message.tool_calls:
        if call.call_id:
            state.tool_names[call.call_id] = call.name
        parts.append(
            f'<div class="card call"><div class="head">Tool call \u00b7 <b>{esc(call.name)}</b>'
            f"</div><pre>{_clip(call.arguments)}</pre></div>"
        )
    return "".join(parts)


def _tool_body(props: Mapping[str, Any], state: _State) -> str:
    name = props.get("name")
    parts = []
    if "input" in props:
        parts.append(
            f'<div class="card call"><div class="head">Input \u00b7 <b>{esc(name or "tool")}</b>'
            f"</div><pre>{_clip(short_json(props.get('input')))}</pre></div>"
        )
    if props.get("output") is not None:
        parts.append(
            '<div class="card result"><div class="head">Output</div>'
            f"<pre>{_clip(short_json(props.get('output')))}</pre></div>"
        )
    return "".join(parts)


def _retriever_body(props: Mapping[str, Any]) -> str:
    query = props.get("query")
    count = props.get("document_count")
    text = []
    if query is not None:
        text.append(f"query <b>{_clip(short_json(query))}</b>")
    if isinstance(count, int):
        text.append(f"{count:,} document{'s' if count != 1 else ''}")
    return f'<div style="margin-top:4px">{_ARROW.join(text)}</div>' if text else ""


def _chain_body(props: Mapping[str, Any]) -> str:
    outputs = props.get("outputs")
    if outputs is None:
        return ""
    answer = text_of(outputs) if isinstance(outputs, (str, list)) else ""
    if isinstance(outputs, Mapping):
        for key in ("output", "answer", "result", "text", "messages"):
            if key in outputs:
                value = outputs[key]
                if isinstance(value, list) and value:
                    value = value[-1]
                answer = text_of(value) if not isinstance(value, str) else value
                break
    if not answer:
        return ""
    if len(answer) > 300:
        answer = answer[:300] + "\u2026"
    return (
        '<div class="muted" style="margin-top:4px;font-size:13px">final output: '
        f"{_clip(answer)}</div>"
    )


def _custom_body(props: Mapping[str, Any]) -> str:
    shown = [(key, value) for key, value in props.items()][:12]
    if not shown:
        return ""
    rows = "".join(
        f"<dt>{esc(key)}</dt><dd>{_clip(short_json(value, width=120)[:500])}</dd>"
        for key, value in shown
    )
    return f'<dl class="kv">{rows}</dl>'


def _error(error: Any) -> str:
    if isinstance(error, Mapping):
        kind = error.get("type") or "Error"
        status = error.get("status_code")
        message = error.get("message")
    else:
        kind, status, message = "Error", None, error
    status_html = f' <span class="pill err">HTTP {esc(status)}</span>' if status else ""
    message_html = f"<pre>{_clip(short_json(message))}</pre>" if message else ""
    return f'<div class="error"><b>{esc(kind)}</b>{status_html}{message_html}</div>'


def _raw(event: Mapping[str, Any], number: int, links: Links, session: str) -> str:
    text = pretty_json(dict(event))
    if len(text) > MAX_RAW_CHARS:
        href = links.events_json(session, offset=number - 1)
        return (
            '<details class="raw"><summary>Raw JSON</summary>'
            f"<p>This event is {len(text):,} characters; "
            f'<a href="{esc(href)}">open it from the JSON API</a>.</p></details>'
        )
    return f'<details class="raw"><summary>Raw JSON</summary><pre>{esc(text)}</pre></details>'


def _clip(text: str) -> str:
    """Escaped ``text``, cut at :data:`MAX_TEXT_CHARS` with a note."""
    if len(text) <= MAX_TEXT_CHARS:
        return esc(text)
    more = len(text) - MAX_TEXT_CHARS
    return (
        esc(text[:MAX_TEXT_CHARS]) + f'<span class="muted">\u2026 {more:,} more characters</span>'
    )
