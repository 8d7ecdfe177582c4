"""HTML pages of the devserver (``GET /``): the session list and one session's events.

Event content is untrusted (LLM inputs and outputs, user properties), so every value that reaches
the page goes through :func:`html.escape`, attribute values included.

Usage::

    html_text = render_sessions(sessions, total=12, key=None)
    html_text = render_session("session-1", events, key=None)
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

__all__ = ["render_session", "render_sessions"]

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #ddd; vertical-align: top; }
pre { margin: 0; white-space: pre-wrap; word-break: break-word; max-height: 24rem; overflow: auto; }
.muted { color: #777; }
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _href(key: str | None, **params: str) -> str:
    if key:
        params["key"] = key
    return "/?" + urlencode(params) if params else "/"


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


def render_sessions(sessions: Iterable[Mapping[str, Any]], *, total: int, key: str | None) -> str:
    """The index: one row per session, most recently active first, each linking to its events."""
    rows = []
    for item in sessions:
        link = _href(key, session=str(item["session"]))
        rows.append(
            "<tr>"
            f'<td><a href="{_e(link)}">{_e(item["session"])}</a></td>'
            f"<td>{_e(', '.join(item['agents']))}</td>"
            f"<td>{_e(item['person'])}</td>"
            f"<td>{_e(item['event_count'])}</td>"
            f"<td>{_e(item['first_seen'])}</td>"
            f"<td>{_e(item['last_seen'])}</td>"
            "</tr>"
        )
    table = (
        "<table><thead><tr><th>session</th><th>agents</th><th>person</th><th>events</th>"
        "<th>first seen</th><th>last seen</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        if rows
        else '<p class="muted">No events yet. Point VOKER_BASE_URL at this server and send some.</p>'
    )
    return _page(
        "Voker devserver",
        f"<h1>Voker devserver</h1>\n<p>{_e(total)} session(s)</p>\n{table}",
    )


def render_session(session: str, events: Iterable[Mapping[str, Any]], *, key: str | None) -> str:
    """One session as a conversation: its events in order, properties shown as JSON."""
    items = []
    for event in events:
        properties = json.dumps(event["properties"], indent=2, ensure_ascii=False, sort_keys=True)
        who = " · ".join(
            _e(part)
            for part in (event["agent"], event["agent_version"], event["person"])
            if part is not None
        )
        items.append(
            "<tr>"
            f"<td>{_e(event['created_at'])}</td>"
            f"<td><strong>{_e(event['event_name'])}</strong><br>"
            f'<span class="muted">{who}</span></td>'
            f"<td><pre>{_e(properties)}</pre></td>"
            "</tr>"
        )
    back = _e(_href(key))
    body = (
        f'<p><a href="{back}">&larr; all sessions</a></p>\n<h1>Session {_e(session)}</h1>\n'
        "<table><thead><tr><th>time</th><th>event</th><th>properties</th></tr></thead><tbody>"
        + "".join(items)
        + "</tbody></table>"
    )
    return _page(f"Voker session {session}", body)
