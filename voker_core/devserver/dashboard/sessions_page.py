"""The dashboard's front page: sessions, most recently active first, with filters and paging.

Usage::

    html_text = render_sessions_page(
        summaries, paging=Paging(1, 50, total), filters=SessionFilters(agent="bot"),
        agents=["bot"], people=["user-1"], links=Links(None), href=lambda n: f"/?page={n}",
    )
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from voker_core.devserver.dashboard.layout import Paging, page, pager
from voker_core.devserver.dashboard.markup import Links, esc, fmt_count, fmt_time

__all__ = ["SessionFilters", "render_sessions_page"]


@dataclass(frozen=True)
class SessionFilters:
    """The sessions list's filters, as the GET form sends them (empty means "any")."""

    agent: str = ""
    version: str = ""
    person: str = ""
    errors: bool = False

    def params(self) -> dict[str, str]:
        """The non-empty filters as query parameters."""
        params = {"agent": self.agent, "version": self.version, "person": self.person}
        if self.errors:
            params["errors"] = "1"
        return {name: value for name, value in params.items() if value}

    @property
    def active(self) -> bool:
        """Whether any filter is set."""
        return bool(self.params())


def render_sessions_page(
    summaries: Sequence[Mapping[str, Any]],
    *,
    paging: Paging,
    filters: SessionFilters,
    agents: Sequence[str],
    people: Sequence[str],
    links: Links,
    href: Callable[[int], str],
) -> str:
    """The sessions list page (see the module docstring); ``href(n)`` links to page ``n``."""
    parts = [
        "<h1>Sessions</h1>",
        f'<p class="sub">{esc(_subtitle(paging.total, filters))}</p>',
        _filter_form(filters, agents, people, links),
    ]
    if summaries:
        parts.append(_table(summaries, links))
        parts.append(pager(href, paging, noun="sessions", shown=len(summaries)))
    elif filters.active or paging.total:
        parts.append('<div class="panel empty">No session matches these filters.</div>')
    else:
        parts.append(
            '<div class="panel empty">No events yet. Point <code>VOKER_BASE_URL</code> at this '
            "server and send some.</div>"
        )
    return page("Sessions", "\n".join(parts), links=links, active="sessions")


def _subtitle(total: int, filters: SessionFilters) -> str:
    noun = "session" if total == 1 else "sessions"
    text = f"{total:,} {noun}"
    described = [
        f"{label} {value}"
        for label, value in (
            ("agent", filters.agent),
            ("version", filters.version),
            ("person", filters.person),
        )
        if value
    ]
    if filters.errors:
        described.append("with errors")
    return text + (" \u00b7 " + ", ".join(described) if described else "")


def _filter_form(
    filters: SessionFilters, agents: Sequence[str], people: Sequence[str], links: Links
) -> str:
    options = ['<option value="">any agent</option>']
    names = list(agents)
    if filters.agent and filters.agent not in names:
        names.append(filters.agent)
    for name in names:
        selected = " selected" if name == filters.agent else ""
        options.append(f'<option value="{esc(name)}"{selected}>{esc(name)}</option>')
    people_options = "".join(f'<option value="{esc(person)}"></option>' for person in people)
    hidden = f'<input type="hidden" name="key" value="{esc(links.key)}">' if links.key else ""
    version = (
        f'<input type="hidden" name="version" value="{esc(filters.version)}">'
        if filters.version
        else ""
    )
    checked = " checked" if filters.errors else ""
    clear = (
        f'<a href="{esc(links.sessions())}" class="muted">Clear filters</a>'
        if filters.active
        else ""
    )
    return (
        f'<form class="filters panel" method="get" action="/">{hidden}{version}'
        f'<label>Agent<select name="agent">{"".join(options)}</select></label>'
        '<label>Person<input type="text" name="person" list="people" placeholder="any person"'
        f' value="{esc(filters.person)}"></label>'
        f'<datalist id="people">{people_options}</datalist>'
        f'<label class="check"><input type="checkbox" name="errors" value="1"{checked}>'
        "with errors only</label>"
        f"<button type=submit>Filter</button>{clear}</form>"
    )


def _table(summaries: Sequence[Mapping[str, Any]], links: Links) -> str:
    rows = []
    for item in summaries:
        session = str(item["session"])
        errors = int(item.get("error_count") or 0)
        css = ' class="has-err"' if errors else ""
        agents = (
            "".join(
                f'<a class="pill accent" href="{esc(links.sessions(agent=agent))}">{esc(agent)}</a>'
                for agent in item.get("agents", [])
            )
            or '<span class="muted">\u2014</span>'
        )
        versions = ", ".join(
            str(version) for _, version in item.get("versions", []) if version is not None
        )
        people = (
            ", ".join(
                f'<a href="{esc(links.sessions(person=person))}">{esc(person)}</a>'
                for person in item.get("people", [])
            )
            or '<span class="muted">anonymous</span>'
        )
        error_cell = (
            f'<span class="pill err">{errors:,} error{"s" if errors != 1 else ""}</span>'
            if errors
            else '<span class="muted">\u2014</span>'
        )
        rows.append(
            f"<tr{css}>"
            f'<td><a class="id" href="{esc(links.session(session))}">{esc(session)}</a></td>'
            f"<td>{agents}</td>"
            f"<td>{esc(versions) or '<span class=muted>&mdash;</span>'}</td>"
            f"<td>{people}</td>"
            f'<td class="num">{fmt_count(item.get("event_count"))}</td>'
            f'<td class="num">{fmt_count(item.get("tokens"))}</td>'
            f"<td>{error_cell}</td>"
            f'<td class="when" title="{esc(item.get("first_seen"))}">'
            f"{esc(fmt_time(item.get('first_seen')))}</td>"
            f'<td class="when" title="{esc(item.get("last_seen"))}">'
            f"{esc(fmt_time(item.get('last_seen')))}</td>"
            "</tr>"
        )
    return (
        '<div class="panel"><table><thead><tr><th>Session</th><th>Agent</th><th>Version</th>'
        '<th>Person</th><th class="num">Events</th><th class="num">Tokens</th><th>Errors</th>'
        "<th>First seen</th><th>Last seen</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
    )
