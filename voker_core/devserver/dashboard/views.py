"""The dashboard's request handling: query parameters in, a :class:`Page` out.

Each view reads what it needs from the :class:`~voker_core.devserver.store.Store` with SQL
``LIMIT``/``OFFSET`` (so a database of thousands of sessions or a session of thousands of events
costs one page of work) and renders it. Query parameters come from a browser, so bad values fall
back to defaults instead of failing.

Usage (``VokerApp`` does this for ``GET /``, ``/sessions/<id>``, ``/agents`` and ``/people``)::

    result = sessions_view(store, {"agent": "support-bot", "page": "2"}, key=None)
    result.status, result.body, result.headers
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from voker_core.devserver.dashboard.directory_pages import render_agents_page, render_people_page
from voker_core.devserver.dashboard.layout import Paging, page
from voker_core.devserver.dashboard.markup import Links, esc
from voker_core.devserver.dashboard.session_page import render_session_page
from voker_core.devserver.dashboard.sessions_page import SessionFilters, render_sessions_page
from voker_core.devserver.store import Store

__all__ = [
    "EVENTS_PER_PAGE",
    "MAX_EVENTS_PER_PAGE",
    "MAX_ROWS_PER_PAGE",
    "PEOPLE_PER_PAGE",
    "SESSIONS_PER_PAGE",
    "Page",
    "agents_view",
    "people_view",
    "session_view",
    "sessions_view",
]

SESSIONS_PER_PAGE = 50
PEOPLE_PER_PAGE = 100
EVENTS_PER_PAGE = 100
MAX_ROWS_PER_PAGE = 500
MAX_EVENTS_PER_PAGE = 1000
_FILTER_CHOICES = 500  # agents listed in the filter's select, people offered as suggestions


@dataclass(frozen=True)
class Page:
    """An HTML answer: status, document, and extra headers (e.g. ``Location``)."""

    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


def sessions_view(store: Store, query: Mapping[str, str], *, key: str | None) -> Page:
    """``GET /``: the sessions list (``?agent=&version=&person=&errors=1&page=&limit=``).

    The old ``/?session=<id>`` form redirects to ``/sessions/<id>``, except for the ids ``.``
    and ``..``, which no browser keeps in a path: their page is served here.
    """
    links = Links(key)
    session = query.get("session")
    if session in (".", ".."):
        return session_view(store, session, query, key=key)
    if session:
        target = links.session(session)
        return Page(302, page("Moved", _moved(target), links=links), {"Location": target})
    filters = SessionFilters(
        agent=query.get("agent", "").strip(),
        version=query.get("version", "").strip(),
        person=query.get("person", "").strip(),
        errors=query.get("errors", "") not in ("", "0", "false", "off"),
    )
    size = _int(query.get("limit"), SESSIONS_PER_PAGE, MAX_ROWS_PER_PAGE)
    number = _int(query.get("page"), 1, None)

    def fetch(offset: int) -> tuple[list[dict[str, Any]], int]:
        return store.session_summaries(
            agent=filters.agent or None,
            agent_version=filters.version or None,
            person=filters.person or None,
            errors_only=filters.errors,
            limit=size,
            offset=offset,
        )

    summaries, total = fetch((number - 1) * size)
    paging = Paging(number, size, total)
    if not summaries and total and number > paging.pages:
        # Past the end (e.g. an old link): show the last page rather than nothing.
        paging = paging.clamp()
        summaries, total = fetch(paging.offset)
    agents, _ = store.list_agents(limit=_FILTER_CHOICES)
    people, _ = store.list_people(limit=_FILTER_CHOICES)

    def href(target: int) -> str:
        limit = size if size != SESSIONS_PER_PAGE else None
        return links.sessions(**filters.params(), page=target, limit=limit)

    html_text = render_sessions_page(
        summaries,
        paging=paging,
        filters=filters,
        agents=[str(agent["agent_name"]) for agent in agents],
        people=[str(person["person_id"]) for person in people],
        links=links,
        href=href,
    )
    return Page(200, html_text)


def session_view(store: Store, session: str, query: Mapping[str, str], *, key: str | None) -> Page:
    """``GET /sessions/<id>``: one session's events as a conversation (``?page=&limit=``)."""
    links = Links(key)
    summary = store.session_summary(session)
    if summary is None:
        body = (
            '<div class="crumbs"><a href="' + esc(links.sessions()) + '">Sessions</a></div>'
            "<h1>Session not found</h1>"
            f'<p class="sub">No event has the session <span class="id">{esc(session)}</span>.</p>'
        )
        return Page(404, page("Session not found", body, links=links, active="sessions"))
    size = _int(query.get("limit"), EVENTS_PER_PAGE, MAX_EVENTS_PER_PAGE)
    total = int(summary["event_count"])
    paging = Paging(_int(query.get("page"), 1, None), size, total).clamp()
    events, _ = store.list_events(session=session, limit=size, offset=paging.offset)

    def href(target: int) -> str:
        return links.session(session, page=target, limit=size if size != EVENTS_PER_PAGE else None)

    html_text = render_session_page(summary, events, paging=paging, links=links, href=href)
    return Page(200, html_text)


def agents_view(store: Store, query: Mapping[str, str], *, key: str | None) -> Page:
    """``GET /agents``: every agent with its versions and their activity."""
    return Page(200, render_agents_page(store.agent_overview(), links=Links(key)))


def people_view(store: Store, query: Mapping[str, str], *, key: str | None) -> Page:
    """``GET /people``: people with their properties (``?page=&limit=``)."""
    links = Links(key)
    size = _int(query.get("limit"), PEOPLE_PER_PAGE, MAX_ROWS_PER_PAGE)
    number = _int(query.get("page"), 1, None)
    people, total = store.list_people(limit=size, offset=(number - 1) * size)
    paging = Paging(number, size, total)
    if not people and total and number > paging.pages:
        paging = paging.clamp()
        people, total = store.list_people(limit=size, offset=paging.offset)
    activity = store.people_activity([str(person["person_id"]) for person in people])

    def href(target: int) -> str:
        return links.people(page=target, limit=size if size != PEOPLE_PER_PAGE else None)

    html_text = render_people_page(people, activity, paging=paging, links=links, href=href)
    return Page(200, html_text)


# Past this a page number times a page size no longer fits SQLite's 64-bit integers.
_MAX_PAGE = 2**40


def _int(raw: str | None, default: int, upper: int | None) -> int:
    """A positive integer query parameter; junk gives ``default``, big values ``upper``."""
    try:
        value = int(raw) if raw else default
    except ValueError:
        return default
    if value < 1:
        return default
    return min(value, upper if upper is not None else _MAX_PAGE)


def _moved(target: str) -> str:
    return f'<p>This page moved to <a href="{esc(target)}">{esc(target)}</a>.</p>'
