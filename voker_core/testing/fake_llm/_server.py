"""`FakeLLMServer`: the HTTP server, the reply script and the request log."""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ._anthropic import AnthropicMessages
from ._common import CallInfo, dumps, echo_text, example_from_schema
from ._gemini import GeminiGenerate
from ._openai import OpenAIChat, OpenAIResponses
from ._provider import Provider
from ._types import RecordedRequest, Reply, ResolvedReply

logger = logging.getLogger("voker.testing.fake_llm")

_POLL_SECONDS = 0.01

ReplySource = Reply | Callable[[RecordedRequest], Reply]
"""A fixed reply, or a function choosing the reply for a recorded request."""

_PROVIDERS: tuple[Provider, ...] = (
    OpenAIChat(),
    OpenAIResponses(),
    AnthropicMessages(),
    GeminiGenerate(),
)


@dataclass
class _Plan:
    """How the handler answers one request (decided by the server, written by the handler)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    frames: list[bytes] | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    disconnect_after: int | None = None


@dataclass
class _Scripted:
    reply: Reply
    remaining: int


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    queue: deque[_Scripted] = field(default_factory=deque)
    default: ReplySource = field(default_factory=Reply)
    requests: list[RecordedRequest] = field(default_factory=list)
    serial: int = 0
    # GET path -> (api, body): what answers left for later retrieval (background responses).
    kept: dict[str, tuple[str, Any]] = field(default_factory=dict)


class FakeLLMServer:
    """A local stand-in for the OpenAI, Anthropic and Gemini HTTP APIs (see the package docs)."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, default: ReplySource | None = None
    ) -> None:
        self._host = host
        self._requested_port = port
        self._state = _State()
        if default is not None:
            self._state.default = default
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeLLMServer:
        """Bind and serve on a background thread (idempotent); returns the server."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _HTTPServer((self._host, self._requested_port), self)
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-llm-server:{self.port}",
            daemon=True,
        )
        self._thread.start()
        logger.debug("fake LLM server listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and join every thread the server started."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stopping.set()  # wakes handlers sleeping in a scripted delay
        httpd.shutdown()
        httpd.close_connections()  # unblocks handlers waiting on idle keep-alive connections
        httpd.server_close()
        httpd.join_handlers(timeout=5)
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._httpd is not None

    # -- addresses -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (only meaningful once started)."""
        if self._httpd is None:
            raise RuntimeError("FakeLLMServer is not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """`http://host:port`, no trailing slash."""
        host = "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """`base_url` for `openai.OpenAI(base_url=...)` (ends with `/v1`)."""
        return f"{self.base_url}/v1"

    @property
    def azure_endpoint(self) -> str:
        """`azure_endpoint` for `openai.AzureOpenAI(azure_endpoint=...)`."""
        return self.base_url

    @property
    def anthropic_base_url(self) -> str:
        """`base_url` for `anthropic.Anthropic(base_url=...)`."""
        return self.base_url

    @property
    def gemini_base_url(self) -> str:
        """`base_url` for `genai.Client(http_options=types.HttpOptions(base_url=...))`."""
        return self.base_url

    def environ(self) -> dict[str, str]:
        """Environment variables pointing the provider SDKs here (with placeholder API keys)."""
        return {
            "OPENAI_BASE_URL": self.openai_base_url,
            "OPENAI_API_KEY": "fake-openai-key",
            "ANTHROPIC_BASE_URL": self.anthropic_base_url,
            "ANTHROPIC_API_KEY": "fake-anthropic-key",
            "GOOGLE_GEMINI_BASE_URL": self.gemini_base_url,
            "GOOGLE_VERTEX_BASE_URL": self.gemini_base_url,
            "GEMINI_API_KEY": "fake-gemini-key",
        }

    # -- scripting -------------------------------------------------------------------------

    def queue_reply(self, reply: Reply | None = None, /, *, times: int = 1, **fields: Any) -> None:
        """Answer the next `times` requests with `reply` (or `Reply(**fields)`), after any
        replies queued before it. Fields given beside a `reply` override its fields."""
        if times < 1:
            raise ValueError("times must be at least 1")
        scripted = _Scripted(_make_reply(reply, fields), times)
        with self._state.lock:
            self._state.queue.append(scripted)

    def queue_replies(self, *replies: Reply) -> None:
        """Queue several replies, answered in order."""
        for reply in replies:
            self.queue_reply(reply)

    def set_default(self, reply: ReplySource | None = None, /, **fields: Any) -> None:
        """Set the answer used when the queue is empty: a `Reply`, `Reply(**fields)`, or a
        function of the `RecordedRequest`. With no argument: back to the echo reply."""
        source: ReplySource
        if callable(reply):
            if fields:
                raise TypeError("fields cannot be combined with a reply function")
            source = reply
        else:
            source = _make_reply(reply, fields)
        with self._state.lock:
            self._state.default = source

    def reset(self) -> None:
        """Forget queued replies, recorded requests and the default reply."""
        with self._state.lock:
            self._state.queue.clear()
            self._state.requests.clear()
            self._state.default = Reply()
            self._state.kept.clear()

    @property
    def pending_replies(self) -> int:
        """How many queued replies are still to be used."""
        with self._state.lock:
            return sum(entry.remaining for entry in self._state.queue)

    # -- inspection ------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the list of requests received so far, oldest first."""
        with self._state.lock:
            return list(self._state.requests)

    def wait_for_requests(self, count: int, *, timeout: float = 10.0) -> list[RecordedRequest]:
        """Poll until at least `count` requests have arrived; return them all, oldest first.

        A client can give up on a request (a timeout, a dropped connection) before the
        server's handler thread has read it, so a test asserting what the server saw after
        such a call waits here rather than reading `requests` at once. Raises
        `AssertionError` after `timeout` seconds, naming what did arrive.
        """
        deadline = time.monotonic() + timeout
        while True:
            received = self.requests
            if len(received) >= count:
                return received
            if time.monotonic() >= deadline:
                paths = ", ".join(f"{r.method} {r.path}" for r in received) or "none"
                raise AssertionError(
                    f"expected at least {count} request(s) within {timeout}s, "
                    f"the fake LLM server received {len(received)}: {paths}"
                )
            time.sleep(_POLL_SECONDS)

    @property
    def last_request(self) -> RecordedRequest:
        """The most recent request (`LookupError` if none)."""
        with self._state.lock:
            if not self._state.requests:
                raise LookupError("the fake LLM server has received no request")
            return self._state.requests[-1]

    def requests_for(self, api: str) -> list[RecordedRequest]:
        """The requests to one API (`openai-chat-completions`, `openai-responses`,
        `anthropic-messages`, `gemini-models`)."""
        return [request for request in self.requests if request.api == api]

    # -- request handling (called on handler threads) --------------------------------------

    def _wait(self, seconds: float) -> bool:
        """Sleep `seconds`; False if the server is stopping meanwhile."""
        if seconds <= 0:
            return not self._stopping.is_set()
        return not self._stopping.wait(seconds)

    def _plan(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> _Plan:
        split = urlsplit(target)
        path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        body = _parse_json(raw)
        with self._state.lock:
            self._state.serial += 1
            serial = self._state.serial
        request_id = f"req_fake{serial:08d}"
        base_headers = [("x-request-id", request_id), ("request-id", request_id)]
        provider, params = _route(method, path)
        with self._state.lock:
            kept = self._state.kept.get(path) if method == "GET" else None
        record = RecordedRequest(
            method=method,
            path=path,
            query=query,
            headers=headers,
            body=body,
            raw_body=raw,
            api=provider.api if provider else kept[0] if kept else None,
            model=None,
            stream=False,
        )
        if kept is not None:  # retrieving what an earlier answer left (a background response)
            record.status = 200
            with self._state.lock:
                self._state.requests.append(record)
            return _Plan(200, [*base_headers, _JSON], body=dumps(kept[1]).encode())
        if provider is None:
            return self._fail(record, 404, base_headers, _not_found(method, path))
        if not isinstance(body, Mapping):
            error = provider.error_body(400, "The request body is not a JSON object.", None, serial)
            return self._fail(record, 400, base_headers, error)
        call = provider.describe(body, params, query)
        record.model, record.stream = call.model, call.stream
        refused = provider.refuse(body, params, query)
        if refused is not None:
            status, message = refused
            error = provider.error_body(status, message, None, serial)
            return self._fail(record, status, base_headers, error)
        with self._state.lock:
            self._state.requests.append(record)
        try:
            reply = self._next_reply(record)
        except Exception:  # a test's reply function failed: answer like a broken upstream
            logger.exception("fake LLM reply function raised")
            error = provider.error_body(500, "The reply function raised.", None, serial)
            record.status = 500
            return _Plan(500, [*base_headers, _JSON], body=dumps(error).encode())
        headers_out = base_headers + list(reply.headers.items())
        plan = _Plan(
            200,
            headers_out,
            delay=reply.delay,
            chunk_delay=reply.chunk_delay,
            disconnect_after=reply.disconnect_after,
        )
        if reply.error_status is not None:
            status = reply.error_status
            message = reply.error_message or _error_message(status)
            error = provider.error_body(status, message, reply.error_type, serial)
            if reply.retry_after is not None:
                headers_out.append(("retry-after", _seconds(reply.retry_after)))
            record.status = plan.status = status
            plan.headers.append(_JSON)
            plan.body = dumps(error).encode()
            return plan
        resolved = _resolve(provider, call, reply, serial)
        record.reply, record.status = resolved, 200
        if call.stream:
            frames = provider.render_stream(call, resolved, serial, reply.chunk_size)
            kind = "text/event-stream; charset=utf-8" if call.sse else "application/json"
            plan.headers += [("content-type", kind), ("cache-control", "no-cache")]
            plan.frames = frames
            return plan
        plan.headers.append(_JSON)
        plan.body = dumps(provider.render(call, resolved, serial)).encode()
        left = provider.kept(call, resolved, serial)
        if left is not None:
            with self._state.lock:
                self._state.kept[f"{path}/{left[0]}"] = (provider.api, left[1])
        return plan

    def _fail(
        self, record: RecordedRequest, status: int, headers: list[tuple[str, str]], error: Any
    ) -> _Plan:
        record.status = status
        with self._state.lock:
            self._state.requests.append(record)
        return _Plan(status, [*headers, _JSON], body=dumps(error).encode())

    def _next_reply(self, record: RecordedRequest) -> Reply:
        with self._state.lock:
            queue = self._state.queue
            if queue:
                entry = queue[0]
                entry.remaining -= 1
                if entry.remaining <= 0:
                    queue.popleft()
                return entry.reply
            source = self._state.default
        return source if isinstance(source, Reply) else source(record)


_JSON = ("content-type", "application/json")


def _make_reply(reply: Reply | None, fields: Mapping[str, Any]) -> Reply:
    if reply is None:
        return Reply(**fields)
    if not isinstance(reply, Reply):
        raise TypeError(f"expected a Reply, got {type(reply).__name__}")
    return dataclasses.replace(reply, **fields) if fields else reply


def _route(method: str, path: str) -> tuple[Provider | None, dict[str, str]]:
    if method == "POST":
        for provider in _PROVIDERS:
            params = provider.match(path)
            if params is not None:
                return provider, params
    return None, {}


def _parse_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _not_found(method: str, path: str) -> dict[str, Any]:
    message = f"The fake LLM server has no endpoint {method} {path}."
    return {"error": {"code": 404, "message": message, "type": "not_found_error"}}


def _error_message(status: int) -> str:
    try:
        return f"Fake provider error: {HTTPStatus(status).phrase}."
    except ValueError:
        return f"Fake provider error {status}."


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _word_count(text: str) -> int:
    return len(text.split())


def _resolve(provider: Provider, call: CallInfo, reply: Reply, serial: int) -> ResolvedReply:
    """Fill in everything a `Reply` left to be derived."""
    prefix = provider.tool_id_prefix
    tool_calls = tuple(
        dataclasses.replace(tc, id=f"{prefix}{serial:06d}{index}")
        if tc.id is None and prefix is not None
        else tc
        for index, tc in enumerate(reply.tool_calls)
    )
    echo = echo_text(call.last_user_text)
    if reply.text is not None:
        text = reply.text
    elif reply.structured is not None:
        text = dumps(reply.structured)
    elif tool_calls:
        text = ""
    elif call.schema is not None:
        text = dumps(example_from_schema(call.schema, echo))
    elif call.json_mode:
        text = dumps({"reply": echo})
    else:
        text = echo
    usage = reply.usage
    cached = max(0, usage.cached_tokens)
    creation = max(0, usage.cache_creation_tokens) if provider.reports_cache_creation else 0
    reasoning = max(0, usage.reasoning_tokens)
    input_tokens = usage.input_tokens if usage.input_tokens is not None else call.prompt_words
    input_tokens = max(input_tokens, cached + creation, 1)
    if usage.output_tokens is not None:
        output_tokens = usage.output_tokens
    else:
        output_tokens = _word_count(text) + reasoning
        output_tokens += sum(
            _word_count(tc.name) + _word_count(tc.arguments_json()) for tc in tool_calls
        )
    output_tokens = max(output_tokens, reasoning)
    finish = reply.finish_reason or ("tool_calls" if tool_calls else "stop")
    return ResolvedReply(
        model=reply.model or call.model,
        text=text,
        tool_calls=tool_calls,
        finish_reason=finish,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=cached,
        cache_creation_tokens=creation,
        reasoning_tokens=reasoning,
        failed=reply.failed,
        failure_message=reply.error_message,
        blocked_prompt=reply.blocked_prompt,
    )


class _HTTPServer(ThreadingHTTPServer):
    """Threaded server that knows its open connections and handler threads, so `stop()` can
    close the ones still open and join every thread it started."""

    daemon_threads = True  # never hold up interpreter exit

    def __init__(self, address: tuple[str, int], owner: FakeLLMServer) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.owner = owner
        self._connections: set[socket.socket] = set()
        self._handlers: set[threading.Thread] = set()
        self._tracking_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # ThreadingMixIn does not keep daemon threads for server_close() to join, so the
        # server starts and tracks them itself. Tracking happens here, on the accept thread,
        # so stop() cannot miss a connection whose handler has not started running yet.
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"fake-llm-handler:{client_address[1]}",
            daemon=True,
        )
        with self._tracking_lock:
            self._connections.add(request)
            # A thread is still alive for a moment after its connection closed, so finished
            # threads are pruned here rather than dropped by themselves (stop() joins the rest).
            self._handlers = {t for t in self._handlers if t.is_alive()}
            self._handlers.add(thread)
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._tracking_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def join_handlers(self, timeout: float) -> None:
        """Wait for the handler threads (after `close_connections` unblocked them)."""
        with self._tracking_lock:
            handlers = list(self._handlers)
        for thread in handlers:
            thread.join(timeout)

    def close_connections(self) -> None:
        with self._tracking_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("fake LLM server: error handling %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    """Reads a request, asks the owner for a `_Plan`, writes it (JSON or chunked SSE)."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' connection pools expect
    disable_nagle_algorithm = True  # no ~40 ms stall per write on reused connections
    server_version = "fake-llm"
    sys_version = ""
    server: _HTTPServer

    def do_GET(self) -> None:
        if urlsplit(self.path).path in ("/", "/healthz"):
            self._send_simple(200, {"status": "ok", "service": "fake-llm"})
            return
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    do_PUT = do_POST
    do_DELETE = do_POST
    do_PATCH = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fake LLM server: " + format, *args)

    def _dispatch(self) -> None:
        owner = self.server.owner
        try:
            raw = self._read_body()
        except (OSError, ValueError):
            self.close_connection = True
            return
        headers = {key.lower(): value for key, value in self.headers.items()}
        try:
            plan = owner._plan(self.command, self.path, headers, raw)
        except Exception:  # a bug here must surface as a 500, not a silently dropped socket
            logger.exception("fake LLM server failed to handle %s %s", self.command, self.path)
            error = {
                "error": {"code": 500, "message": "fake LLM server bug", "type": "server_error"}
            }
            plan = _Plan(500, [_JSON], body=dumps(error).encode())
        try:
            self._write(plan, owner)
        except OSError:  # the client went away (e.g. it timed out first)
            self.close_connection = True

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _write(self, plan: _Plan, owner: FakeLLMServer) -> None:
        if not owner._wait(plan.delay):
            self._drop()
            return
        if plan.disconnect_after == 0:
            self._drop()
            return
        self.send_response(plan.status)
        for name, value in plan.headers:
            self.send_header(name, value)
        if plan.frames is None:
            self.send_header("Content-Length", str(len(plan.body)))
            self.end_headers()
            self.wfile.write(plan.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for number, frame in enumerate(plan.frames):
            if plan.disconnect_after is not None and number >= plan.disconnect_after:
                self._drop()
                return
            if number and plan.chunk_delay and not owner._wait(plan.chunk_delay):
                self._drop()
                return
            self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
        self.wfile.write(b"0\r\n\r\n")

    def _send_simple(self, status: int, payload: Any) -> None:
        body = dumps(payload).encode()
        self.send_response(status)
        self.send_header(*_JSON)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drop(self) -> None:
        """Close the connection without (finishing) a response, like a network failure."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


__all__ = ["FakeLLMServer", "ReplySource"]
