"""The devserver's dashboard: server-rendered HTML pages over the devserver's database.

Pages (all ``GET``, all read-only, no scripts, no external assets, strict CSP):

- ``/`` — sessions, most recently active first: agent, version, person, events, tokens, errors,
  first/last seen; filters ``?agent=&version=&person=&errors=1``; paging ``?page=&limit=``.
- ``/sessions/<id>`` (the id percent-encoded) — the session as a conversation, a page of events
  at a time (``?page=&limit=``), each with its raw JSON behind a ``<details>`` toggle.
- ``/agents`` — agents with their versions; ``/people`` — people with their properties.

Event content is untrusted (what users typed, what models answered): every value is passed
through :func:`html.escape` before it reaches a page, and :data:`SECURITY_HEADERS` forbid
scripts anyway.

Usage (``VokerApp`` wires these to its routes)::

    from voker_core.devserver import dashboard

    result = dashboard.session_view(store, "session-1", {"page": "2"}, key=None)
    start_response(result.status, {**dashboard.SECURITY_HEADERS, **result.headers})
"""

from voker_core.devserver.dashboard.layout import SECURITY_HEADERS
from voker_core.devserver.dashboard.views import (
    Page,
    agents_view,
    people_view,
    session_view,
    sessions_view,
)

__all__ = [
    "SECURITY_HEADERS",
    "Page",
    "agents_view",
    "people_view",
    "session_view",
    "sessions_view",
]
