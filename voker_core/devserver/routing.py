"""The devserver's route table and its path handling.

Path segments carry user data (person ids, agent names) that may contain ``/``, ``?``, ``#``, ``%``,
spaces or emoji; clients percent-encode each segment (``quote(seg, safe="")``). So routing splits
the *raw* request target on ``/`` first and percent-decodes each segment afterwards: decoding first
would turn ``a%2Fb`` into two segments.

Usage::

    segments = raw_path_segments("/api/v1/people/a%2Fb")   # ["api", "v1", "people", "a/b"]
    route, params = match(ROUTES, "GET", segments)          # params == {"person_id": "a/b"}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes, urlsplit

__all__ = [
    "LIST_QUERY",
    "PAGES",
    "ROUTES",
    "MethodNotAllowed",
    "PathError",
    "Route",
    "match",
    "parse_query",
    "raw_path_segments",
]

#: Query parameters every list endpoint accepts.
LIST_QUERY = ("limit", "offset")


@dataclass(frozen=True)
class Route:
    """One endpoint: ``method`` and ``template`` (``{name}`` marks a path parameter).

    ``handler`` names the ``VokerApp`` method that answers it; ``query`` lists the accepted query
    parameters; ``auth`` says whether the API key (when enforced) is required.
    """

    method: str
    template: str
    handler: str
    query: tuple[str, ...] = ()
    auth: bool = True
    segments: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = tuple(part for part in self.template.split("/") if part)
        object.__setattr__(self, "segments", parts)

    def bind(self, segments: Sequence[str]) -> dict[str, str] | None:
        """The path parameters if ``segments`` fit this route's template, else None."""
        if len(segments) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for pattern, value in zip(self.segments, segments, strict=True):
            if pattern.startswith("{") and pattern.endswith("}"):
                if not value:
                    return None
                params[pattern[1:-1]] = value
            elif pattern != value:
                return None
        return params


_EVENT_QUERY = ("session", "agent", "agent_version", "person", "event_name", *LIST_QUERY)
_PAGE_QUERY = ("page", "limit", "key")
_SESSIONS_PAGE_QUERY = ("session", "agent", "version", "person", "errors", *_PAGE_QUERY)

#: Every endpoint the devserver answers; the OpenAPI document is checked against this table.
ROUTES: tuple[Route, ...] = (
    # The Voker API v1 (DESIGN §2).
    Route("PUT", "/api/v1/fingerprints", "create_fingerprint"),
    Route("POST", "/api/v1/events", "create_event"),
    Route("PUT", "/api/v1/people", "create_person"),
    Route("GET", "/api/v1/people/{person_id}", "get_person"),
    Route("PUT", "/api/v1/people/{person_id}", "update_person"),
    Route("PUT", "/api/v1/agents", "create_agent"),
    Route("GET", "/api/v1/agents/{agent_name}", "get_agent"),
    Route("PUT", "/api/v1/agents/{agent_name}/agent-versions", "create_agent_version"),
    Route(
        "GET",
        "/api/v1/agents/{agent_name}/agent-versions/{agent_version_name}",
        "get_agent_version",
    ),
    # Devserver-only read endpoints (DESIGN §7).
    Route("GET", "/api/v1/events", "list_events", query=_EVENT_QUERY),
    Route("GET", "/api/v1/sessions", "list_sessions", query=("agent", "person", *LIST_QUERY)),
    Route("GET", "/api/v1/agents", "list_agents", query=LIST_QUERY),
    Route(
        "GET", "/api/v1/agents/{agent_name}/agent-versions", "list_agent_versions", query=LIST_QUERY
    ),
    Route("GET", "/api/v1/people", "list_people", query=LIST_QUERY),
    Route("GET", "/api/v1/fingerprints/{fingerprint_id}", "get_fingerprint"),
    Route("GET", "/healthz", "healthz", auth=False),
    Route("GET", "/openapi.json", "openapi", auth=False),
    Route("GET", "/", "dashboard", query=_SESSIONS_PAGE_QUERY),
)

#: The dashboard's other HTML pages (not part of the API, so not in the OpenAPI document).
PAGES: tuple[Route, ...] = (
    Route("GET", "/sessions/{session}", "dashboard_session", query=_PAGE_QUERY),
    Route("GET", "/agents", "dashboard_agents", query=("key",)),
    Route("GET", "/people", "dashboard_people", query=_PAGE_QUERY),
)


class PathError(ValueError):
    """The request target cannot be decoded (e.g. a segment is not UTF-8)."""


class MethodNotAllowed(Exception):
    """The path exists but not for this method; ``allowed`` lists the methods that do."""

    def __init__(self, allowed: list[str]) -> None:
        super().__init__(", ".join(allowed))
        self.allowed = allowed


def raw_path_segments(raw_target: str) -> list[str]:
    """Split a raw request target (path, maybe ``?query``, maybe absolute-form) into decoded segments.

    ``raw_target`` is a WSGI "native string": the request bytes decoded as latin-1.
    """
    if raw_target.startswith(("http://", "https://")):
        raw_target = urlsplit(raw_target).path or "/"
    path = raw_target.split("?", 1)[0].split("#", 1)[0]
    return _decode_segments(path.split("/")[1:] if path.startswith("/") else path.split("/"))


def decoded_path_segments(path_info: str) -> list[str]:
    """Segments from an already-decoded WSGI ``PATH_INFO`` (servers that give no raw target).

    Such a server has already turned ``%2F`` into ``/``, so ids containing ``/`` cannot be told
    apart from extra segments there; the devserver's own HTTP server always gives the raw target.
    """
    try:
        text = path_info.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError) as exc:
        raise PathError(f"the request path is not UTF-8: {exc}") from None
    parts = text.split("/")
    return _strip_root(parts[1:] if text.startswith("/") else parts)


def _decode_segments(raw_segments: list[str]) -> list[str]:
    decoded = []
    for raw in raw_segments:
        try:
            decoded.append(unquote_to_bytes(raw.encode("latin-1")).decode("utf-8"))
        except (UnicodeEncodeError, UnicodeDecodeError) as exc:
            raise PathError(f"path segment {raw!r} is not percent-encoded UTF-8: {exc}") from None
    return _strip_root(decoded)


def _strip_root(segments: list[str]) -> list[str]:
    # "/" splits into [""]: the root has no segments.
    return [] if segments == [""] else segments


def parse_query(query_string: str) -> dict[str, str]:
    """Decode ``a=1&b=x%20y`` (latin-1 native string) into a dict; the last value of a key wins."""
    params: dict[str, str] = {}
    for pair in query_string.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        try:
            params[_unquote_plus(name)] = _unquote_plus(value)
        except (UnicodeEncodeError, UnicodeDecodeError) as exc:
            raise PathError(
                f"query parameter {pair!r} is not percent-encoded UTF-8: {exc}"
            ) from None
    return params


def _unquote_plus(text: str) -> str:
    return unquote_to_bytes(text.replace("+", " ").encode("latin-1")).decode("utf-8")


def match(
    routes: Sequence[Route], method: str, segments: Sequence[str]
) -> tuple[Route, dict[str, str]] | None:
    """The route and path parameters for a request; None if no path matches.

    Raises :class:`MethodNotAllowed` when the path matches under other methods only. ``HEAD`` is
    answered by the ``GET`` route.
    """
    wanted = "GET" if method == "HEAD" else method
    allowed: list[str] = []
    for route in routes:
        params = route.bind(segments)
        if params is None:
            continue
        if route.method == wanted:
            return route, params
        allowed.append(route.method)
    if allowed:
        raise MethodNotAllowed(sorted(set(allowed)))
    return None
