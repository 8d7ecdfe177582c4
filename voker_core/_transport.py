"""HTTP transport for the Voker API: one keep-alive ``requests.Session``, auth, retries, errors.

Internal: ``ApiClient`` and the delivery worker both send through :class:`Transport`, so the
wire details (headers, encoding of path segments, the retry policy, the mapping of error
responses to exceptions) are written once.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from voker_core._retry import RETRYABLE_STATUS, backoff_delay, parse_retry_after
from voker_core._version import __version__
from voker_core.errors import (
    VokerConnectionError,
    VokerTimeoutError,
    error_from_response,
)
from voker_core.serialize import utf8_safe

__all__ = ["USER_AGENT", "Response", "Transport", "encode_json", "encode_path"]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

logger = logging.getLogger("voker")

USER_AGENT = f"voker-integrations/{__version__} python/{platform.python_version_tuple()[0]}.{platform.python_version_tuple()[1]}"


def encode_path(*segments: str) -> str:
    """Join user-supplied path segments, percent-encoding each one completely.

    >>> encode_path("agents", "a/b c")
    'agents/a%2Fb%20c'
    """
    return "/".join(_encode_segment(segment) for segment in segments)


def _encode_segment(segment: str) -> str:
    # A lone surrogate (a person id read from a file name, say) has no UTF-8 form: quote()
    # would raise UnicodeEncodeError.
    encoded = quote(utf8_safe(segment), safe="")
    # "." and ".." survive quote() and would be resolved away by URL normalisation (requests
    # drops them), so a person called "." would address the collection instead.
    if encoded in (".", ".."):
        return encoded.replace(".", "%2E")
    return encoded


def encode_json(body: Any) -> bytes:
    """A request body as compact UTF-8 JSON.

    Never raises ``UnicodeEncodeError``: a string holding a lone surrogate (which ``json`` lets
    through but UTF-8 cannot carry, and which the devserver refuses even as a ``\\udcff``
    escape) is sent with U+FFFD in its place, as :func:`~voker_core.serialize.to_jsonable` does.
    """
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return utf8_safe(text).encode("utf-8")


@dataclass(frozen=True)
class Response:
    """A decoded response: the status, the JSON body (or None) and the headers that matter."""

    status_code: int
    body: Any
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


def _apply_environment_once(session: requests.Session, base_url: str) -> None:
    """Read the proxy and CA-bundle environment variables once, for this session's life.

    With ``trust_env`` on, requests re-reads them (and ``~/.netrc``) on every request, which
    costs more than the rest of a keep-alive request's client-side work. The settings the
    environment gives are kept; only the per-request lookups go.
    """
    proxies = requests.utils.get_environ_proxies(base_url)
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    session.trust_env = False
    if proxies:
        session.proxies.update(proxies)
    if bundle:
        session.verify = bundle


class Transport:
    """Sends requests to one Voker server with one API key over pooled keep-alive connections."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        timeout: float = 10.0,
        max_retries: int = 2,
        pool_size: int = 10,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._https = self.base_url.lower().startswith("https:")
        self.timeout = timeout
        self.max_retries = max_retries
        self._api_key = api_key
        self._session_lock = threading.Lock()
        self._pool_size = pool_size
        self._session: requests.Session | None = None
        _LIVE.add(self)  # its connections are forgotten in a forked child (see below)

    def _get_session(self) -> requests.Session:
        session = self._session
        if session is None:
            with self._session_lock:
                session = self._session
                if session is None:
                    session = requests.Session()
                    # requests' own retries would retry non-idempotent POSTs blindly; ours know
                    # which failures are safe to repeat.
                    adapter = HTTPAdapter(
                        pool_connections=1, pool_maxsize=self._pool_size, max_retries=0
                    )
                    session.mount("http://", adapter)
                    session.mount("https://", adapter)
                    _apply_environment_once(session, self.base_url)
                    # Only what the API needs: requests' Accept-Encoding and "Connection:
                    # keep-alive" (HTTP/1.1's default) cost both ends a header per request.
                    session.headers.clear()
                    session.headers.update(
                        {
                            "Authorization": f"Bearer {self._api_key}",
                            "User-Agent": USER_AGENT,
                            "Accept": "application/json",
                        }
                    )
                    self._session = session
        return session

    def send_once(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        """One attempt. Returns the response whatever its status; raises only when no response
        came (:class:`VokerConnectionError` / :class:`VokerTimeoutError`).

        ``data`` is an already-encoded JSON body (the worker encodes off the caller's thread);
        otherwise ``body`` is encoded here.
        """
        url = f"{self.base_url}/{path.lstrip('/')}"
        request_headers = dict(headers or {})
        if data is None and body is not None:
            data = encode_json(body)
        if data is not None:
            request_headers["Content-Type"] = "application/json"
        try:
            raw = self._send(method, url, data, request_headers, timeout)
        except requests.Timeout as exc:
            raise VokerTimeoutError(f"Voker API {method} {path} timed out: {exc}") from exc
        except requests.RequestException as exc:
            raise VokerConnectionError(
                f"could not reach the Voker API at {self.base_url}: {exc}"
            ) from exc
        try:
            decoded: Any = raw.json() if raw.content else None
        except ValueError:
            decoded = raw.text
        return Response(
            status_code=raw.status_code,
            body=decoded,
            retry_after=parse_retry_after(raw.headers.get("Retry-After")),
        )

    def _send(
        self,
        method: str,
        url: str,
        data: bytes | None,
        headers: dict[str, str],
        timeout: float | None,
    ) -> requests.Response:
        """One request through the session's adapter (its keep-alive pool).

        ``Session.request`` would re-prepare and re-merge everything this transport fixes once
        (headers, proxies, CA bundle, no cookies, no redirects): about a third of a keep-alive
        request's client-side time. The request is assembled here directly instead; the URL
        is already encoded (:func:`encode_path`) and the body is bytes.
        """
        session = self._get_session()
        prepared = requests.PreparedRequest()
        prepared.method = method
        prepared.url = url
        prepared.headers = requests.structures.CaseInsensitiveDict(
            cast("Mapping[str, str]", session.headers)
        )
        prepared.headers.update(headers)
        prepared.body = data
        if data is not None:
            prepared.headers["Content-Length"] = str(len(data))
        elif method in _BODY_METHODS:
            prepared.headers["Content-Length"] = "0"
        return session.get_adapter(url).send(
            prepared,
            timeout=timeout if timeout is not None else self.timeout,
            # A CA bundle matters to https only (requests would stat its path every request).
            verify=session.verify if self._https and session.verify is not None else True,
            proxies=session.proxies,
            cert=session.cert,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        what: str | None = None,
    ) -> Any:
        """Send with retries of transient failures; return the JSON body of a 2xx response.

        Raises the :mod:`voker_core.errors` class matching the final failure.
        """
        attempt = 0
        while True:
            try:
                response = self.send_once(method, path, body=body, headers=headers)
            except VokerConnectionError as exc:
                if attempt >= self.max_retries:
                    raise
                attempt += 1
                delay = backoff_delay(attempt)
                logger.debug(
                    "voker: %s %s failed (%s), retry %d in %.2fs", method, path, exc, attempt, delay
                )
                time.sleep(delay)
                continue
            if response.ok:
                return response.body
            if response.status_code in RETRYABLE_STATUS and attempt < self.max_retries:
                attempt += 1
                delay = backoff_delay(attempt, retry_after=response.retry_after)
                logger.debug(
                    "voker: %s %s answered %d, retry %d in %.2fs",
                    method,
                    path,
                    response.status_code,
                    attempt,
                    delay,
                )
                time.sleep(delay)
                continue
            raise error_from_response(
                response.status_code,
                response.body,
                retry_after=response.retry_after,
                what=what or f"{method} {path}",
            )

    def close(self) -> None:
        """Close pooled connections. The transport reopens them if used again."""
        with self._session_lock:
            session, self._session = self._session, None
        if session is not None:
            session.close()

    def reset_after_fork(self) -> None:
        """Forget the parent's connections and lock in a forked child (never close them: the
        sockets are shared with the parent)."""
        self._session_lock = threading.Lock()
        self._session = None


# Every transport, the ApiClient's as well as the delivery engine's: a keep-alive socket shared
# by a parent and its forked children (gunicorn --preload, multiprocessing, Celery prefork)
# would interleave their requests and hand each process the others' answers.
_LIVE: weakref.WeakSet[Transport] = weakref.WeakSet()


def _reset_all_after_fork() -> None:
    for transport in list(_LIVE):
        transport.reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_all_after_fork)
