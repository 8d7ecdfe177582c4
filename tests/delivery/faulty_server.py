"""A fault-injecting HTTP proxy in front of the devserver, for delivery tests.

Requests are forwarded to a real devserver (so events really land and are read back with the
``voker_server`` fixture's readers) unless a planned fault applies. Faults are planned per path
prefix and consumed in order, one per matching request:

- ``fail(n, status=503, retry_after=None)``: answer ``status`` without forwarding.
- ``drop(n, after_forward=False)``: close the connection without any response; with
  ``after_forward=True`` the request reaches the devserver first (the write is stored but the
  client never hears so: a retry must not store it twice).
- ``slow(n, delay)``: forward, then wait ``delay`` seconds before answering (longer than the
  client's timeout: the write is stored, the client times out and retries).
- ``not_found(n, kind="fingerprint-not-found")``: answer 404 with that error type.
- ``fail_for(seconds, status=503)``: answer ``status`` to every matching request for a while.
- ``refuse_for(seconds)``: close the listening socket and every open connection, and listen
  again on the same port after ``seconds`` (connections are refused meanwhile).

Usage::

    with FaultyServer(voker_server.base_url) as proxy:
        proxy.fail(3, path_prefix="/api/v1/events")
        client = VokerClient(api_key="k", base_url=proxy.base_url)
        ...
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

__all__ = ["FaultyServer"]

_FORWARDED = ("Authorization", "Content-Type", "Idempotency-Key", "User-Agent", "Accept")


@dataclass
class _Fault:
    kind: str  # "fail" | "drop" | "drop-after" | "slow" | "not-found"
    path_prefix: str
    status: int = 503
    retry_after: float | None = None
    delay: float = 0.0
    error_type: str = ""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], proxy: FaultyServer) -> None:
        self.proxy = proxy
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def cut_all(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        proxy = self.server.proxy
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        fault = proxy._take_fault(self.command, path)
        if fault is None:
            self._forward(body)
            return
        if fault.kind == "fail":
            payload = {"detail": {"type": "injected", "message": f"HTTP {fault.status}"}}
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            self._reply(fault.status, json.dumps(payload).encode(), headers)
        elif fault.kind == "not-found":
            payload = {"detail": {"type": fault.error_type}}
            self._reply(404, json.dumps(payload).encode(), {})
        elif fault.kind == "drop":
            self._drop()
        elif fault.kind == "drop-after":
            self._upstream(body)
            self._drop()
        elif fault.kind == "slow":
            status, data, headers = self._upstream(body)
            time.sleep(fault.delay)
            with contextlib.suppress(OSError):
                self._reply(status, data, headers)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _forward(self, body: bytes) -> None:
        status, data, headers = self._upstream(body)
        self._reply(status, data, headers)

    def _upstream(self, body: bytes) -> tuple[int, bytes, dict[str, str]]:
        proxy = self.server.proxy
        headers = {name: self.headers[name] for name in _FORWARDED if self.headers.get(name)}
        conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=30)
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            response = conn.getresponse()
            data = response.read()
            kept = {
                name: value
                for name, value in response.getheaders()
                if name.lower() in ("content-type", "retry-after")
            }
            return response.status, data, kept
        finally:
            conn.close()

    def _reply(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        if not any(name.lower() == "content-type" for name in headers):
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


class FaultyServer:
    """See the module docstring."""

    def __init__(self, upstream_base_url: str, *, host: str = "127.0.0.1", port: int = 0) -> None:
        parts = urlsplit(upstream_base_url)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self._host = host
        self._port = port
        self._faults: deque[_Fault] = deque()
        self._fail_until: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._timers: list[threading.Thread] = []
        self.requests: Counter[str] = Counter()  # "METHOD /path" -> count seen
        self.injected: Counter[str] = Counter()  # fault kind -> count applied

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FaultyServer:
        with self._lock:
            if self._server is not None:
                return self
            server = _Server((self._host, self._port), self)
            self._port = int(server.server_address[1])
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"faulty-server-{self._port}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.cut_all()
        if thread is not None:
            thread.join()

    def close(self) -> None:
        self.stop()
        for timer in self._timers:
            timer.join()
        self.stop()  # a refuse_for timer may have restarted it

    def __enter__(self) -> FaultyServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self._port}"

    # -- fault plan ----------------------------------------------------------------------------

    def fail(
        self,
        count: int,
        *,
        status: int = 503,
        retry_after: float | None = None,
        path_prefix: str = "/api/v1/",
    ) -> None:
        self._plan(count, _Fault("fail", path_prefix, status=status, retry_after=retry_after))

    def drop(
        self, count: int, *, after_forward: bool = False, path_prefix: str = "/api/v1/"
    ) -> None:
        self._plan(count, _Fault("drop-after" if after_forward else "drop", path_prefix))

    def slow(self, count: int, *, delay: float, path_prefix: str = "/api/v1/") -> None:
        self._plan(count, _Fault("slow", path_prefix, delay=delay))

    def not_found(
        self, count: int, *, kind: str = "fingerprint-not-found", path_prefix: str = "/api/v1/"
    ) -> None:
        self._plan(count, _Fault("not-found", path_prefix, error_type=kind))

    def fail_for(self, seconds: float, *, status: int = 503, path_prefix: str = "/api/v1/") -> None:
        with self._lock:
            self._fail_until[path_prefix] = (time.monotonic() + seconds, status)

    def refuse_for(self, seconds: float) -> None:
        """Stop listening now; listen again on the same port after ``seconds``."""
        self.stop()

        def restart() -> None:
            time.sleep(seconds)
            self.start()

        timer = threading.Thread(target=restart, daemon=True)
        timer.start()
        self._timers.append(timer)

    def _plan(self, count: int, fault: _Fault) -> None:
        with self._lock:
            self._faults.extend(fault for _ in range(count))

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            self.requests[f"{method} {path}"] += 1
            if method == "GET":
                return None  # reads (the tests' own) always pass
            now = time.monotonic()
            for prefix, (until, status) in self._fail_until.items():
                if path.startswith(prefix) and now < until:
                    self.injected["fail"] += 1
                    return _Fault("fail", prefix, status=status)
            for index, fault in enumerate(self._faults):
                if path.startswith(fault.path_prefix):
                    del self._faults[index]
                    self.injected[fault.kind] += 1
                    return fault
        return None

    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def count(self, method: str, path_prefix: str) -> int:
        """Requests seen (faulty or not) whose method matches and path starts with the prefix."""
        with self._lock:
            return sum(
                n
                for key, n in self.requests.items()
                if key.startswith(f"{method} ") and key.split(" ", 1)[1].startswith(path_prefix)
            )
