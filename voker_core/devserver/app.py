"""The devserver as a WSGI application: the Voker API v1 on a SQLite :class:`Store`.

Usage::

    from voker_core.devserver.app import create_app

    app = create_app("voker.sqlite3", api_key=None)   # any WSGI server can run it
    app.request_count                                  # requests answered so far

Path parameters are percent-decoded from the raw request target (``RAW_URI`` or ``REQUEST_URI``,
which the devserver's own HTTP server provides) so ids containing ``/`` survive; under a server
that only gives the decoded ``PATH_INFO`` such ids cannot be routed.

Every answer is JSON (the dashboard's HTML pages at ``/``, ``/sessions/<id>``, ``/agents`` and
``/people`` excepted); every error is
``{"detail": {"type": <kind>, "message": <text>}}``; nothing raises out of the app.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from voker_core._version import __version__
from voker_core.devserver import dashboard
from voker_core.devserver.openapi import build_openapi
from voker_core.devserver.routing import (
    PAGES,
    ROUTES,
    MethodNotAllowed,
    PathError,
    Route,
    decoded_path_segments,
    match,
    parse_query,
    raw_path_segments,
)
from voker_core.devserver.store import RecordNotFound, Store
from voker_core.devserver.validation import (
    ApiError,
    optional_object,
    optional_str,
    parse_json_body,
    require_object,
    required_str,
    session_id,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_BODY_BYTES", "MAX_PAGE_SIZE", "VokerApp", "create_app"]

logger = logging.getLogger("voker.devserver")

#: Largest request body accepted; larger ones get 413 ``payload-too-large``.
MAX_BODY_BYTES = 8 * 1024 * 1024
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


@dataclass
class Request:
    """What a handler needs from one WSGI request."""

    environ: WSGIEnvironment
    method: str
    params: dict[str, str]
    query: dict[str, str]

    def header(self, name: str) -> str | None:
        """A request header by its HTTP name, e.g. ``Idempotency-Key``."""
        value = self.environ.get("HTTP_" + name.upper().replace("-", "_"))
        return value if isinstance(value, str) else None

    def body(self) -> bytes:
        """The request body, refusing anything over :data:`MAX_BODY_BYTES`."""
        raw_length = self.environ.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw_length)
        except ValueError:
            raise ApiError(400, "invalid-request", f"bad Content-Length {raw_length!r}") from None
        if length > MAX_BODY_BYTES:
            raise ApiError(
                413,
                "payload-too-large",
                f"the request body is {length} bytes; the limit is {MAX_BODY_BYTES} bytes (8 MiB)",
            )
        data = self.environ["wsgi.input"].read(length) if length > 0 else b""
        if len(data) != length:
            raise ApiError(400, "invalid-request", "the request body ended early")
        return bytes(data)

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object (400/413/422 otherwise)."""
        return require_object(parse_json_body(self.body()))


@dataclass
class Response:
    """A complete answer; the app buffers every response (they are small)."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, value: Any, headers: dict[str, str] | None = None) -> Response:
        """A JSON response (UTF-8, non-ASCII kept as is)."""
        data = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return cls(status, data, headers=dict(headers or {}))

    @classmethod
    def error(cls, exc: ApiError) -> Response:
        """The JSON error body of an :class:`ApiError`."""
        return cls.json(exc.status, {"detail": exc.detail()}, exc.headers)


@dataclass
class _Failure:
    status: int
    path_prefix: str
    headers: dict[str, str]


Handler = Callable[[Request], Response]


class VokerApp:
    """WSGI callable serving the Voker API from ``store``.

    ``api_key``: when set, API calls need ``Authorization: Bearer <api_key>`` (else 401); when
    None any key, or none, is accepted. ``latency``: seconds to sleep before answering each
    request (benchmarks use it to simulate a network round trip); may be changed while running.
    """

    def __init__(self, store: Store, *, api_key: str | None = None, latency: float = 0.0) -> None:
        self.store = store
        self.api_key = api_key
        self.latency = latency
        self._lock = threading.Lock()
        self._request_count = 0
        self._failures: list[_Failure] = []
        self._openapi_json = json.dumps(build_openapi()).encode("utf-8")

    @property
    def request_count(self) -> int:
        """How many requests this app has been asked to answer."""
        with self._lock:
            return self._request_count

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 503,
        retry_after: float | None = None,
        path_prefix: str = "/api/v1/",
    ) -> None:
        """Answer the next ``count`` requests under ``path_prefix`` with ``status`` (fault injection).

        Lets tests exercise a client's retries against the real server: e.g. ``fail_next(2)``
        then one request succeeds on its third try. ``retry_after`` adds a ``Retry-After`` header.
        """
        headers = {} if retry_after is None else {"Retry-After": _format_seconds(retry_after)}
        with self._lock:
            self._failures.extend(_Failure(status, path_prefix, headers) for _ in range(count))

    # -- WSGI entry -----------------------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        with self._lock:
            self._request_count += 1
        if self.latency > 0:
            time.sleep(self.latency)
        try:
            response = self._dispatch(environ)
        except ApiError as exc:
            response = Response.error(exc)
        except sqlite3.OperationalError as exc:
            # Another process holding the database: a retryable condition, not a crash.
            logger.warning("devserver storage busy: %s", exc)
            response = Response.error(
                ApiError(503, "storage-busy", str(exc), headers={"Retry-After": "1"})
            )
        except Exception:
            logger.exception("devserver: unexpected error answering %s", environ.get("PATH_INFO"))
            response = Response.error(ApiError(500, "internal-error", "unexpected server error"))
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
            ("Cache-Control", "no-store"),
            *response.headers.items(),
        ]
        phrase = HTTPStatus(response.status).phrase
        start_response(f"{response.status} {phrase}", headers)
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else response.body]

    def _dispatch(self, environ: WSGIEnvironment) -> Response:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        try:
            if isinstance(raw, str) and raw:
                segments = raw_path_segments(raw)
            else:
                segments = decoded_path_segments(str(environ.get("PATH_INFO") or "/"))
        except PathError as exc:
            raise ApiError(400, "invalid-path", str(exc)) from None
        try:
            query = parse_query(str(environ.get("QUERY_STRING") or ""))
        except PathError as exc:
            raise ApiError(400, "invalid-query", str(exc)) from None
        injected = self._injected_failure("/" + "/".join(segments))
        if injected is not None:
            return injected
        try:
            found = match(ROUTES + PAGES, method, segments)
        except MethodNotAllowed as exc:
            raise ApiError(
                405,
                "method-not-allowed",
                f"{method} is not allowed here; use {', '.join(exc.allowed)}",
                headers={"Allow": ", ".join(exc.allowed)},
            ) from None
        if found is None:
            raise ApiError(404, "not-found", f"no endpoint at {'/' + '/'.join(segments)}")
        route, params = found
        if route.auth:
            self._authorize(environ, query)
        _check_query(route, query)
        handler: Handler = getattr(self, "_" + route.handler)
        return handler(Request(environ, method, params, query))

    def _injected_failure(self, path: str) -> Response | None:
        with self._lock:
            for index, failure in enumerate(self._failures):
                if path.startswith(failure.path_prefix):
                    del self._failures[index]
                    break
            else:
                return None
        kind = "rate-limited" if failure.status == 429 else "injected-failure"
        message = f"failure injected by DevServer.fail_next (HTTP {failure.status})"
        return Response.error(ApiError(failure.status, kind, message, headers=failure.headers))

    def _authorize(self, environ: WSGIEnvironment, query: dict[str, str]) -> None:
        if self.api_key is None:
            return
        header = str(environ.get("HTTP_AUTHORIZATION") or "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            token = query.get("key", "")  # the dashboard is opened in a browser: ?key=
        if not hmac.compare_digest(token.strip().encode(), self.api_key.encode()):
            raise ApiError(
                401,
                "unauthorized",
                "missing or wrong API key; send Authorization: Bearer <key>",
                headers={"WWW-Authenticate": 'Bearer realm="voker-devserver"'},
            )

    # -- Voker API v1 ---------------------------------------------------------------------------

    def _create_fingerprint(self, request: Request) -> Response:
        body = request.json_object()
        for name in ("language", "language_version", "system"):
            required_str(body, name, non_empty=False)
        for name in (
            "voker_sdk_version",
            "openai_sdk_version",
            "anthropic_sdk_version",
            "gemini_sdk_version",
            "git_repository_url",
            "git_branch",
            "git_commit_hash",
            "git_commit_date",
        ):
            optional_str(body, name, non_empty=False)
        optional_object(body, "all_packages")
        return Response.json(200, self.store.create_fingerprint(body))

    def _create_event(self, request: Request) -> Response:
        body = request.json_object()
        session = session_id(body)
        event_name = required_str(body, "event_name")
        properties = optional_object(body, "properties", required=True)
        fingerprint_id = required_str(body, "fingerprint_id")
        agent = optional_str(body, "agent")
        agent_version = optional_str(body, "agent_version")
        person = optional_str(body, "person")
        if agent_version is not None and agent is None:
            raise ApiError(
                422,
                "validation-error",
                "agent_version: needs an agent; send agent too",
                field="agent_version",
            )
        key = (request.header("Idempotency-Key") or "").strip() or None
        try:
            event, created = self.store.create_event(
                event_name=event_name,
                properties=properties or {},
                session=session,
                fingerprint_id=fingerprint_id,
                agent=agent,
                agent_version=agent_version,
                person=person,
                idempotency_key=key,
            )
        except RecordNotFound as exc:
            raise _not_found(exc) from None
        headers = {} if created else {"Idempotent-Replayed": "true"}
        return Response.json(200, event, headers)

    def _create_person(self, request: Request) -> Response:
        body = request.json_object()
        person_id = required_str(body, "person_id")
        properties = optional_object(body, "properties")
        return Response.json(200, self.store.create_person(person_id, properties))

    def _get_person(self, request: Request) -> Response:
        return self._found(self.store.get_person, request.params["person_id"])

    def _update_person(self, request: Request) -> Response:
        body = request.json_object()
        properties = optional_object(body, "properties", required=True) or {}
        return self._found(self.store.update_person, request.params["person_id"], properties)

    def _create_agent(self, request: Request) -> Response:
        body = request.json_object()
        name = required_str(body, "agent_name")
        description = optional_str(body, "description", allow_null=True, non_empty=False)
        return Response.json(200, self.store.create_agent(name, description))

    def _get_agent(self, request: Request) -> Response:
        return self._found(self.store.get_agent, request.params["agent_name"])

    def _create_agent_version(self, request: Request) -> Response:
        body = request.json_object()
        name = required_str(body, "agent_version_name")
        description = optional_str(body, "description", allow_null=True, non_empty=False)
        return self._found(
            self.store.create_agent_version, request.params["agent_name"], name, description
        )

    def _get_agent_version(self, request: Request) -> Response:
        return self._found(
            self.store.get_agent_version,
            request.params["agent_name"],
            request.params["agent_version_name"],
        )

    # -- devserver read endpoints ---------------------------------------------------------------

    def _list_events(self, request: Request) -> Response:
        limit, offset = _page(request.query)
        query = _filters(request.query)
        events, total = self.store.list_events(
            session=query.get("session"),
            agent=query.get("agent"),
            agent_version=query.get("agent_version"),
            person=query.get("person"),
            event_name=query.get("event_name"),
            limit=limit,
            offset=offset,
        )
        return Response.json(200, {"events": events, "total": total})

    def _list_sessions(self, request: Request) -> Response:
        limit, offset = _page(request.query)
        query = _filters(request.query)
        sessions, total = self.store.list_sessions(
            agent=query.get("agent"), person=query.get("person"), limit=limit, offset=offset
        )
        return Response.json(200, {"sessions": sessions, "total": total})

    def _list_agents(self, request: Request) -> Response:
        limit, offset = _page(request.query)
        agents, total = self.store.list_agents(limit=limit, offset=offset)
        return Response.json(200, {"agents": agents, "total": total})

    def _list_agent_versions(self, request: Request) -> Response:
        limit, offset = _page(request.query)
        try:
            versions, total = self.store.list_agent_versions(
                request.params["agent_name"], limit=limit, offset=offset
            )
        except RecordNotFound as exc:
            raise _not_found(exc) from None
        return Response.json(200, {"agent_versions": versions, "total": total})

    def _list_people(self, request: Request) -> Response:
        limit, offset = _page(request.query)
        people, total = self.store.list_people(limit=limit, offset=offset)
        return Response.json(200, {"people": people, "total": total})

    def _get_fingerprint(self, request: Request) -> Response:
        return self._found(self.store.get_fingerprint, request.params["fingerprint_id"])

    def _healthz(self, request: Request) -> Response:
        return Response.json(200, {"status": "ok", "version": __version__})

    def _openapi(self, request: Request) -> Response:
        return Response(200, self._openapi_json)

    def _dashboard(self, request: Request) -> Response:
        return self._html(
            dashboard.sessions_view(self.store, request.query, key=self._key(request))
        )

    def _dashboard_session(self, request: Request) -> Response:
        session = request.params["session"]
        key = self._key(request)
        return self._html(dashboard.session_view(self.store, session, request.query, key=key))

    def _dashboard_agents(self, request: Request) -> Response:
        return self._html(dashboard.agents_view(self.store, request.query, key=self._key(request)))

    def _dashboard_people(self, request: Request) -> Response:
        return self._html(dashboard.people_view(self.store, request.query, key=self._key(request)))

    def _key(self, request: Request) -> str | None:
        # Pages opened in a browser carry the enforced key as ?key= in their links.
        return request.query.get("key") if self.api_key is not None else None

    @staticmethod
    def _html(result: dashboard.Page) -> Response:
        headers = {**dashboard.SECURITY_HEADERS, **result.headers}
        body = result.body.encode("utf-8")
        return Response(
            result.status, body, content_type="text/html; charset=utf-8", headers=headers
        )

    # -- helpers --------------------------------------------------------------------------------

    def _found(self, reader: Callable[..., dict[str, Any]], *args: Any) -> Response:
        try:
            return Response.json(200, reader(*args))
        except RecordNotFound as exc:
            raise _not_found(exc) from None


def _not_found(exc: RecordNotFound) -> ApiError:
    return ApiError(404, exc.kind, exc.message)


def _check_query(route: Route, query: dict[str, str]) -> None:
    unknown = sorted(set(query) - set(route.query) - {"key"})
    if unknown:
        accepted = ", ".join(route.query) or "none"
        raise ApiError(
            400,
            "invalid-query",
            f"unknown query parameter(s) {', '.join(unknown)}; accepted: {accepted}",
        )


def _filters(query: dict[str, str]) -> dict[str, str]:
    # An empty value (?session=) means "no filter", as an HTML form would send it.
    return {name: value for name, value in query.items() if value}


# SQLite's integers are 64-bit: a larger OFFSET overflows.
_MAX_OFFSET = 2**62


def _page(query: dict[str, str]) -> tuple[int, int]:
    limit = _int_param(query, "limit", DEFAULT_PAGE_SIZE)
    offset = _int_param(query, "offset", 0)
    if not 0 <= limit <= MAX_PAGE_SIZE:
        raise ApiError(400, "invalid-query", f"limit must be between 0 and {MAX_PAGE_SIZE}")
    if not 0 <= offset <= _MAX_OFFSET:
        raise ApiError(400, "invalid-query", f"offset must be between 0 and {_MAX_OFFSET}")
    return limit, offset


def _int_param(query: dict[str, str], name: str, default: int) -> int:
    raw = query.get(name, "")
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, "invalid-query", f"{name} must be an integer, not {raw!r}") from None


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


def create_app(
    db_path: str | os.PathLike[str], *, api_key: str | None = None, latency: float = 0.0
) -> VokerApp:
    """A WSGI application serving the Voker API on the SQLite database at ``db_path``."""
    return VokerApp(Store(db_path), api_key=api_key, latency=latency)
