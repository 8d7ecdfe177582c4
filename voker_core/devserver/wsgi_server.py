"""A small threaded HTTP/1.1 server for one WSGI application (stdlib only).

Why not ``wsgiref.simple_server``: it answers one request per connection and decodes the path
before the app sees it. This server keeps connections alive (HTTP/1.1), turns Nagle's algorithm off
on every accepted socket (otherwise a keep-alive client waits ~40 ms per request on delayed ACKs),
writes each response with a single send, passes the raw request target as ``RAW_URI`` /
``REQUEST_URI``, and can cut every open connection on shutdown, so a stopped server really looks
down to clients that hold a pooled connection.

Usage::

    server = WSGIServer(("127.0.0.1", 0), app)
    thread = threading.Thread(target=server.serve)
    thread.start()
    ...
    server.stop_serving(); thread.join(); server.close_all()
"""

from __future__ import annotations

import email.utils
import io
import json
import logging
import selectors
import socket
import sys
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote_to_bytes

from voker_core._version import __version__

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["WSGIServer"]

logger = logging.getLogger("voker.devserver")

#: Unread request bodies up to this size are drained to keep the connection usable; a client
#: that sends more gets its connection closed instead.
_DRAIN_LIMIT = 64 * 1024 * 1024
#: Chunked bodies are read up to this size; the app refuses anything larger by Content-Length.
_CHUNKED_LIMIT = 8 * 1024 * 1024 + 1


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def readline(self, size: int = -1, /) -> bytes: ...


class _BodyReader(io.RawIOBase):
    """``wsgi.input``: never reads past the request's body, so keep-alive stays in sync."""

    def __init__(self, stream: _Readable, length: int) -> None:
        super().__init__()
        self._stream = stream
        self.remaining = length

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > self.remaining:
            size = self.remaining
        if size == 0:
            return b""
        data = self._stream.read(size)
        self.remaining -= len(data)
        if not data:
            self.remaining = 0  # the client went away mid-body
        return data

    def readline(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > self.remaining:
            size = self.remaining
        if size == 0:
            return b""
        data = self._stream.readline(size)
        self.remaining -= len(data)
        if not data:
            self.remaining = 0
        return data

    def drain(self) -> bool:
        """Discard the unread body; False if it is too large to bother (close instead)."""
        if self.remaining > _DRAIN_LIMIT:
            return False
        while self.remaining > 0:
            if not self.read(min(self.remaining, 1 << 16)):
                return False
        return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"voker-devserver/{__version__}"
    sys_version = ""
    # Idle keep-alive connections are closed after this many seconds.
    timeout = 120
    server: WSGIServer

    # Every method goes to the WSGI app, which answers 405/404 itself.
    def do_GET(self) -> None:
        self._run_app()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _run_app(self) -> None:
        body = self._body_reader()
        if body is None:
            return
        environ = self._environ(body)
        status = "500 Internal Server Error"
        headers: list[tuple[str, str]] = []

        def start_response(
            new_status: str, new_headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            nonlocal status, headers
            status, headers = new_status, list(new_headers)
            return lambda data: None  # the legacy write() callable; the app never uses it

        try:
            chunks: Iterable[bytes] = self.server.app(environ, start_response)
            try:
                payload = b"".join(chunks)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
        except Exception:
            logger.exception("WSGI application failed on %s", self.requestline)
            self.send_error(500, "unexpected server error")
            return
        if not body.drain():
            self.close_connection = True
        self._write_response(status, headers, payload)

    def _body_reader(self) -> _BodyReader | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = self._read_chunked()
            if data is None:
                return None
            self.headers.replace_header("Transfer-Encoding", "identity")
            self._content_length = len(data)
            return _BodyReader(io.BytesIO(data), len(data))
        raw = self.headers.get("Content-Length", "0") or "0"
        try:
            length = int(raw)
            if length < 0:
                raise ValueError(raw)
        except ValueError:
            self.close_connection = True
            self.send_error(400, f"bad Content-Length {raw!r}")
            return None
        self._content_length = length
        return _BodyReader(self.rfile, length)

    def _read_chunked(self) -> bytes | None:
        """Decode a chunked body; past the limit keep counting (so the app can say 413)."""
        data = bytearray()
        seen = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                self.send_error(400, "bad chunked encoding")
                return None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                break
            seen += size
            if seen > _DRAIN_LIMIT:
                self.close_connection = True
                self.send_error(413, "request body too large")
                return None
            chunk = self.rfile.read(size)
            self.rfile.readline(1024)
            if len(data) < _CHUNKED_LIMIT:
                data += chunk[: _CHUNKED_LIMIT - len(data)]
        return bytes(data)

    def _environ(self, body: _BodyReader) -> dict[str, Any]:
        target = self.path
        path, _, query = target.partition("?")
        host, port = self.server.server_address[:2]
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            # PEP 3333: PATH_INFO is the decoded path as a latin-1 "native string".
            "PATH_INFO": unquote_to_bytes(path.encode("latin-1")).decode("latin-1"),
            "QUERY_STRING": query,
            "RAW_URI": target,
            "REQUEST_URI": target,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(self._content_length),
            "SERVER_NAME": str(host),
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": str(self.client_address[1]),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": body,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                continue
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _write_response(self, status: str, headers: list[tuple[str, str]], payload: bytes) -> None:
        lines = [f"{self.protocol_version} {status}"]
        names = set()
        for name, value in headers:
            names.add(name.lower())
            lines.append(f"{name}: {value}")
        if "content-length" not in names:
            lines.append(f"Content-Length: {len(payload)}")
        lines.append(f"Server: {self.version_string()}")
        lines.append(f"Date: {email.utils.formatdate(usegmt=True)}")
        if self.close_connection:
            lines.append("Connection: close")
        elif self.request_version == "HTTP/1.0":
            lines.append("Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        # One write: headers and body leave in the same segment.
        self.wfile.write(head + (b"" if self.command == "HEAD" else payload))
        code = status.split(" ", 1)[0]
        logger.debug('%s "%s" %s %d', self.client_address[0], self.requestline, code, len(payload))

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol-level errors (bad request line, huge headers) as JSON like every other error."""
        phrase = self.responses.get(code, ("Error", ""))[0]
        kind = {413: "payload-too-large", 500: "internal-error"}.get(code, "bad-request")
        detail = {"type": kind, "message": message or phrase}
        body = json.dumps({"detail": detail}).encode("utf-8")
        self.close_connection = True
        self._write_response(
            f"{code} {phrase}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            body,
        )

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - " + format, self.address_string(), *args)


class WSGIServer(HTTPServer):
    """Threaded HTTP/1.1 server for ``app``; see the module docstring."""

    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: WSGIApplication) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._connections_lock = threading.Lock()
        self._stopping = threading.Event()
        # A socket pair wakes the accept loop at once on stop (no polling interval to wait out).
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        super().__init__(address, _Handler)
        self.socket.setblocking(False)

    def serve(self) -> None:
        """Accept connections (one thread each) until :meth:`stop_serving` is called."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wakeup_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self.socket and not self._stopping.is_set():
                        self._accept_one()

    def _accept_one(self) -> None:
        try:
            request, client_address = self.get_request()
        except OSError:
            return  # the client gave up before we accepted (or nothing was pending)
        try:
            self.process_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
            self.shutdown_request(request)

    def stop_serving(self) -> None:
        """Make :meth:`serve` return promptly (call from another thread)."""
        self._stopping.set()
        try:
            self._wakeup_w.send(b"\0")
        except OSError:
            pass  # already closed

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        # Nagle off: small responses on a reused connection must not wait for a delayed ACK.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, address

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name=f"voker-devserver-conn-{client_address[1]}",
            daemon=True,
        )
        with self._connections_lock:
            self._connections[request] = thread
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.pop(request, None)
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients vanishing mid-request are routine (and expected when the server is stopped).
        logger.debug("devserver connection error from %s", client_address, exc_info=True)

    def close_all(self, timeout: float = 5.0) -> None:
        """Close the listening socket and every open connection, then wait for their threads.

        Call after :meth:`serve` has returned.
        """
        self.server_close()
        self._wakeup_r.close()
        self._wakeup_w.close()
        with self._connections_lock:
            connections = list(self._connections.items())
        for sock, _ in connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the client
        for _, thread in connections:
            if thread is not threading.current_thread():
                thread.join(timeout)
