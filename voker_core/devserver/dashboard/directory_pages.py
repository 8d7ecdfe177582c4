"""The agents page (each agent with its versions) and the people page (each with properties).

Usage::

    render_agents_page(store.agent_overview(), links=Links(None))
    render_people_page(people, activity, paging=Paging(1, 100, total), links=Links(None))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from voker_core.devserver.dashboard.layout import Paging, page, pager
from voker_core.devserver.dashboard.markup import Links, esc, fmt_count, fmt_time, short_json

__all__ = ["render_agents_page", "render_people_page"]

_DASH = '<span class="muted">\u2014</span>'


def render_agents_page(agents: Sequence[Mapping[str, Any]], *, links: Links) -> str:
    """Every agent as a panel: description, activity, and a table of its versions."""
    parts = [
        "<h1>Agents</h1>",
        f'<p class="sub">{len(agents):,} agent{"s" if len(agents) != 1 else ""}</p>',
    ]
    if not agents:
        parts.append(
            '<div class="panel empty">No agents yet. They appear when an event names one, or '
            "when your app registers them (agents.create).</div>"
        )
    for agent in agents:
        parts.append(_agent(agent, links))
    return page("Agents", "\n".join(parts), links=links, active="agents")


def _agent(agent: Mapping[str, Any], links: Links) -> str:
    name = str(agent["agent_name"])
    description = agent.get("description")
    sessions_href = links.sessions(agent=name)
    rows = []
    for version in agent.get("versions", []):
        version_name = str(version["agent_version_name"])
        href = links.sessions(agent=name, version=version_name)
        deprecated = (
            f' <span class="pill">deprecated {esc(fmt_time(version.get("deprecated_at")))}</span>'
            if version.get("deprecated_at")
            else ""
        )
        rows.append(
            "<tr>"
            f'<td><a class="id" href="{esc(href)}">{esc(version_name)}</a>{deprecated}</td>'
            f'<td class="num">{esc(version.get("agent_version_number"))}</td>'
            f"<td>{esc(version.get('description')) or _DASH}</td>"
            f'<td class="num">{fmt_count(version.get("session_count"))}</td>'
            f'<td class="num">{fmt_count(version.get("event_count"))}</td>'
            f'<td class="when">{esc(fmt_time(version.get("last_seen"))) or _DASH}</td>'
            f'<td class="when">{esc(fmt_time(version.get("created_at")))}</td>'
            "</tr>"
        )
    table = (
        "<table><colgroup><col style=width:17%><col style=width:6%><col style=width:29%>"
        "<col style=width:10%><col style=width:10%><col style=width:14%><col style=width:14%>"
        "</colgroup><thead><tr><th>Version</th><th class=num>#</th><th>Description</th>"
        "<th class=num>Sessions</th><th class=num>Events</th><th>Last seen</th><th>Created</th>"
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        if rows
        else '<p class="muted" style="padding:0 16px">No versions.</p>'
    )
    return (
        '<section class="panel agent"><div class="title">'
        f'<h2><a href="{esc(sessions_href)}">{esc(name)}</a></h2>'
        f'<span class="muted">agent #{esc(agent.get("agent_number"))}</span>'
        f'<span class="muted">{_plural(agent.get("session_count"), "session")} \u00b7 '
        f"{_plural(agent.get('event_count'), 'event')}</span>"
        f'<span class="muted">created {esc(fmt_time(agent.get("created_at")))}</span>'
        "</div>"
        + (f'<p style="margin:10px 16px 4px">{esc(description)}</p>' if description else "")
        + table
        + "</section>"
    )


def _plural(count: Any, noun: str) -> str:
    return f"{fmt_count(count)} {noun}{'' if count == 1 else 's'}"


def render_people_page(
    people: Sequence[Mapping[str, Any]],
    activity: Mapping[str, Mapping[str, Any]],
    *,
    paging: Paging,
    links: Links,
    href: Callable[[int], str],
) -> str:
    """A page of people with their properties and how many sessions/events they have."""
    parts = [
        "<h1>People</h1>",
        f'<p class="sub">{paging.total:,} {"person" if paging.total == 1 else "people"}</p>',
    ]
    if not people:
        parts.append(
            '<div class="panel empty">No people yet. They appear when an event names a person '
            "or your app calls people.create.</div>"
        )
    else:
        rows = []
        for person in people:
            person_id = str(person["person_id"])
            stats = activity.get(person_id, {})
            properties = person.get("properties")
            rows.append(
                "<tr>"
                f'<td><a class="id" href="{esc(links.sessions(person=person_id))}">'
                f"{esc(person_id)}</a></td>"
                f"<td>{_properties(properties)}</td>"
                f'<td class="num">{fmt_count(stats.get("session_count", 0))}</td>'
                f'<td class="num">{fmt_count(stats.get("event_count", 0))}</td>'
                f'<td class="when">{esc(fmt_time(stats.get("last_seen"))) or _DASH}</td>'
                f'<td class="when">{esc(fmt_time(person.get("created_at")))}</td>'
                "</tr>"
            )
        parts.append(
            '<div class="panel"><table><thead><tr><th>Person</th><th>Properties</th>'
            "<th class=num>Sessions</th><th class=num>Events</th><th>Last seen</th>"
            "<th>Created</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>"
        )
        parts.append(pager(href, paging, noun="people", shown=len(people)))
    return page("People", "\n".join(parts), links=links, active="people")


def _properties(properties: Any) -> str:
    if not isinstance(properties, Mapping) or not properties:
        return _DASH
    items = "".join(
        f"<dt>{esc(key)}</dt><dd>{esc(short_json(value, width=100)[:300])}</dd>"
        for key, value in list(properties.items())[:20]
    )
    more = len(properties) - 20
    extra = f'<dt></dt><dd class="muted">\u2026 {more:,} more</dd>' if more > 0 else ""
    return f'<dl class="kv" style="margin:0">{items}{extra}</dl>'
