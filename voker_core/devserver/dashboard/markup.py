"""Escaping, links and number/time formatting shared by the dashboard pages.

Every value that comes from the database (event content, ids, names, properties) is untrusted:
it reaches the page only through :func:`esc`, attribute values included. Links are built by
:class:`Links`, which percent-encodes path segments and query values and carries the ``?key=``
the devserver asks browsers for when it enforces an API key.

Usage::

    links = Links(key=None)
    f'<a href="{esc(links.session("a/b"))}">{esc("a/b")}</a>'   # /sessions/a%2Fb
    fmt_ms(1234.5)                                              # "1.23 s"
    fmt_clock("2026-05-04T10:00:03.123456Z")                    # "10:00:03"
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

__all__ = [
    "Links",
    "esc",
    "fmt_clock",
    "fmt_count",
    "fmt_ms",
    "fmt_time",
    "pretty_json",
    "short_json",
]


def esc(value: Any) -> str:
    """``value`` as text safe in HTML content and in double- or single-quoted attributes."""
    return html.escape("" if value is None else str(value), quote=True)


_DOT_SEGMENTS = (".", "..")


@dataclass(frozen=True)
class Links:
    """URLs of the dashboard's pages; ``key`` (the enforced API key, if any) rides along."""

    key: str | None = None

    def url(self, path: str, **params: str | int | None) -> str:
        """``path`` (already encoded) with the non-empty ``params`` as its query string."""
        query = {name: str(value) for name, value in params.items() if value not in (None, "")}
        if self.key:
            query["key"] = self.key
        return path + ("?" + urlencode(query) if query else "")

    def sessions(self, **params: str | int | None) -> str:
        """The sessions list, e.g. ``sessions(agent="bot", page=2)``."""
        return self.url("/", **params)

    def session(self, session: str, **params: str | int | None) -> str:
        """One session's conversation (the id is percent-encoded as one path segment)."""
        if session in _DOT_SEGMENTS:
            # Browsers resolve "." and ".." (encoded or not) as relative path steps: such an id
            # goes in the query instead (sessions_view serves it).
            return self.url("/", session=session, **params)
        return self.url("/sessions/" + quote(session, safe=""), **params)

    def agents(self) -> str:
        """The agents page."""
        return self.url("/agents")

    def people(self, **params: str | int | None) -> str:
        """The people page."""
        return self.url("/people", **params)

    def events_json(self, session: str, *, offset: int, limit: int = 1) -> str:
        """The JSON API's view of ``limit`` events of ``session`` from ``offset``."""
        return self.url("/api/v1/events", session=session, offset=offset, limit=limit)


def fmt_count(value: int | float | None) -> str:
    """``12345`` -> ``"12,345"``; None -> an em dash."""
    if value is None:
        return "\u2014"
    return f"{value:,.0f}" if isinstance(value, float) else f"{value:,}"


def fmt_ms(value: Any) -> str:
    """Milliseconds for people: ``"850 ms"``, ``"1.23 s"``, ``"2 min 5 s"``; non-numbers -> ""."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    if value < 1000:
        return f"{value:.0f} ms"
    if value < 60_000:
        return f"{value / 1000:.2f} s"
    minutes, seconds = divmod(round(value / 1000), 60)
    return f"{minutes} min {seconds} s"


def fmt_time(stamp: Any) -> str:
    """``2026-05-04T10:00:03.123456Z`` -> ``2026-05-04 10:00:03``; anything else as text."""
    if not isinstance(stamp, str):
        return ""
    date, sep, rest = stamp.partition("T")
    if not sep:
        return stamp
    return f"{date} {rest[:8]}"


def fmt_clock(stamp: Any) -> str:
    """``2026-05-04T10:00:03.123456Z`` -> ``10:00:03``; anything else as :func:`fmt_time` gives."""
    text = fmt_time(stamp)
    date, sep, clock = text.partition(" ")
    return clock if sep and len(date) == 10 else text


def pretty_json(value: Any) -> str:
    """Indented JSON (non-ASCII kept) for the raw views; never raises."""
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=repr)
    except (TypeError, ValueError):
        return repr(value)


def short_json(value: Any, width: int = 72) -> str:
    """One-line JSON when it fits in ``width`` characters, else indented; strings as they are."""
    if isinstance(value, str):
        return value
    try:
        line = json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        return repr(value)
    return line if len(line) <= width else pretty_json(value)
