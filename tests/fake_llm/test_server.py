"""The fake server itself: scripting, request log, HTTP behaviour, lifecycle and command line."""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

import openai
import pytest

from voker_core.testing.fake_llm import FakeLLMServer, RecordedRequest, Reply

MESSAGES = [{"role": "user", "content": "ping"}]


def post_json(
    conn: http.client.HTTPConnection, path: str, payload: Any
) -> tuple[int, dict[str, str], Any]:
    conn.request(
        "POST", path, body=json.dumps(payload), headers={"Content-Type": "application/json"}
    )
    response = conn.getresponse()
    body = response.read()
    return response.status, dict(response.getheaders()), json.loads(body) if body else None


def chat(server: FakeLLMServer, **extra: Any) -> Any:
    with openai.OpenAI(api_key="k", base_url=server.openai_base_url, max_retries=0) as client:
        return client.chat.completions.create(model="gpt-4o", messages=MESSAGES, **extra)


def test_a_fresh_server_has_seen_no_request(fake_llm: FakeLLMServer) -> None:
    openai.OpenAI(api_key="k", base_url=fake_llm.openai_base_url).close()

    assert fake_llm.requests == []
    with pytest.raises(LookupError):
        _ = fake_llm.last_request


def test_queued_replies_are_used_in_order_then_the_default(fake_llm: FakeLLMServer) -> None:
    fake_llm.queue_reply(text="one")
    fake_llm.queue_reply(Reply(text="two"), times=2)
    fake_llm.queue_replies(Reply(text="four"))
    assert fake_llm.pending_replies == 4

    texts = [chat(fake_llm).choices[0].message.content for _ in range(5)]

    assert texts == ["one", "two", "two", "four", "Echo: ping"]
    assert fake_llm.pending_replies == 0


def test_set_default_with_fields_a_function_and_back_to_echo(fake_llm: FakeLLMServer) -> None:
    fake_llm.set_default(text="canned")
    assert chat(fake_llm).choices[0].message.content == "canned"

    def by_model(request: RecordedRequest) -> Reply:
        return Reply(text=f"you asked {request.model} at {request.path}")

    fake_llm.set_default(by_model)
    assert chat(fake_llm).choices[0].message.content == "you asked gpt-4o at /v1/chat/completions"

    fake_llm.set_default()
    assert chat(fake_llm).choices[0].message.content == "Echo: ping"


def test_a_failing_reply_function_answers_500(fake_llm: FakeLLMServer) -> None:
    def broken(request: RecordedRequest) -> Reply:
        raise RuntimeError("bug in the test's reply function")

    fake_llm.set_default(broken)

    with pytest.raises(openai.InternalServerError):
        chat(fake_llm)


def test_reset_forgets_script_log_and_default(fake_llm: FakeLLMServer) -> None:
    fake_llm.set_default(text="canned")
    fake_llm.queue_reply(text="queued")
    chat(fake_llm)

    fake_llm.reset()

    assert fake_llm.requests == [] and fake_llm.pending_replies == 0
    assert chat(fake_llm).choices[0].message.content == "Echo: ping"


def test_requests_record_headers_body_and_the_resolved_reply(fake_llm: FakeLLMServer) -> None:
    chat(fake_llm, extra_headers={"X-Custom": "yes"}, temperature=0.5)

    (request,) = fake_llm.requests
    assert request.header("X-CUSTOM") == "yes"
    assert request.body == {"model": "gpt-4o", "messages": MESSAGES, "temperature": 0.5}
    assert json.loads(request.raw_body) == request.body
    assert request.status == 200
    assert request.reply is not None
    assert (request.reply.input_tokens, request.reply.output_tokens) == (1, 2)
    assert request.reply.total_tokens == 3
    assert request.reply.finish_reason == "stop"


def test_custom_response_headers(fake_llm: FakeLLMServer) -> None:
    fake_llm.queue_reply(headers={"x-ratelimit-remaining-requests": "42"})
    with openai.OpenAI(api_key="k", base_url=fake_llm.openai_base_url) as client:
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)

    assert raw.headers["x-ratelimit-remaining-requests"] == "42"
    assert raw.headers["x-request-id"].startswith("req_fake")


def test_unknown_paths_answer_404_and_are_recorded(fake_llm: FakeLLMServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", fake_llm.port, timeout=5)
    try:
        status, _, body = post_json(conn, "/v1/embeddings", {"input": "x"})
        conn.request("GET", "/healthz")
        health = json.loads(conn.getresponse().read())
    finally:
        conn.close()

    assert status == 404 and "embeddings" in body["error"]["message"]
    assert health["status"] == "ok"
    (request,) = fake_llm.requests
    assert (request.api, request.status, request.path) == (None, 404, "/v1/embeddings")


def test_a_body_that_is_not_json_gets_a_provider_shaped_400(fake_llm: FakeLLMServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", fake_llm.port, timeout=5)
    try:
        conn.request("POST", "/v1/messages", body=b"not json")
        response = conn.getresponse()
        body = json.loads(response.read())
    finally:
        conn.close()

    assert response.status == 400
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"


def test_keep_alive_connections_are_reused_without_nagle_stalls(fake_llm: FakeLLMServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", fake_llm.port, timeout=5)
    payload = {"model": "gpt-4o", "messages": MESSAGES}
    latencies = []
    try:
        post_json(conn, "/v1/chat/completions", payload)
        sock = conn.sock
        for _ in range(30):
            started = time.perf_counter()
            status, headers, _ = post_json(conn, "/v1/chat/completions", payload)
            latencies.append(time.perf_counter() - started)
            assert status == 200
        assert conn.sock is sock  # one TCP connection for every request
    finally:
        conn.close()

    assert headers.get("Connection", "keep-alive").lower() != "close"
    # With Nagle's algorithm on, a request on a reused connection waits ~40 ms for the
    # delayed ACK; the median stays far below that without it, even on a busy machine.
    assert statistics.median(latencies) < 0.02


def test_streams_use_chunked_encoding_and_keep_the_connection(fake_llm: FakeLLMServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", fake_llm.port, timeout=5)
    payload = {"model": "gpt-4o", "messages": MESSAGES, "stream": True}
    try:
        conn.request("POST", "/v1/chat/completions", body=json.dumps(payload))
        response = conn.getresponse()
        text = response.read().decode()
        sock = conn.sock
        status, _, _ = post_json(conn, "/v1/chat/completions", {"model": "m", "messages": []})
        assert conn.sock is sock
    finally:
        conn.close()

    assert response.getheader("Transfer-Encoding") == "chunked"
    assert response.getheader("Content-Type", "").startswith("text/event-stream")
    assert text.endswith("data: [DONE]\n\n")
    assert status == 200


def test_chunk_delay_spaces_out_streamed_events(fake_llm: FakeLLMServer) -> None:
    fake_llm.queue_reply(text="a b c d", chunk_delay=0.05)
    arrivals = []
    with openai.OpenAI(api_key="k", base_url=fake_llm.openai_base_url) as client:
        started = time.perf_counter()
        for _ in client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
            arrivals.append(time.perf_counter() - started)

    assert len(arrivals) == 6  # role, four words, finish
    assert arrivals[-1] - arrivals[0] >= 5 * 0.05 * 0.9


def test_chunk_size_controls_the_delta_length(fake_llm: FakeLLMServer) -> None:
    fake_llm.queue_reply(text="abcdefghij", chunk_size=3)
    with openai.OpenAI(api_key="k", base_url=fake_llm.openai_base_url) as client:
        stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        deltas = [c.choices[0].delta.content for c in stream if c.choices[0].delta.content]

    assert deltas == ["abc", "def", "ghi", "j"]


def test_disconnect_before_answering_is_a_connection_error(fake_llm: FakeLLMServer) -> None:
    fake_llm.queue_reply(disconnect_after=0)

    with pytest.raises(openai.APIConnectionError):
        chat(fake_llm)
    assert len(fake_llm.requests) == 1


def test_wait_for_requests_returns_what_arrived_or_names_it(fake_llm: FakeLLMServer) -> None:
    chat(fake_llm)
    [request] = fake_llm.wait_for_requests(1, timeout=1)
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")

    with pytest.raises(AssertionError, match=r"at least 2 .* received 1: POST /v1/chat"):
        fake_llm.wait_for_requests(2, timeout=0.05)


def _new_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t not in before and t.is_alive()]


def test_stop_closes_idle_connections_and_joins_every_thread() -> None:
    before = set(threading.enumerate())
    server = FakeLLMServer().start()
    idle = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    post_json(idle, "/v1/chat/completions", {"model": "m", "messages": MESSAGES})
    assert _new_threads(before)  # the accept loop and the idle connection's handler

    server.stop()

    assert _new_threads(before) == []
    assert not server.running
    idle.close()


def test_stop_interrupts_a_scripted_delay_promptly() -> None:
    before = set(threading.enumerate())
    server = FakeLLMServer().start()
    server.queue_reply(delay=60)
    client = openai.OpenAI(api_key="k", base_url=server.openai_base_url, max_retries=0)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            client.chat.completions.create(model="m", messages=MESSAGES)
        except openai.APIError as exc:
            errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    server.wait_for_requests(1, timeout=5)
    started = time.perf_counter()
    server.stop()
    caller.join(timeout=5)
    client.close()

    assert time.perf_counter() - started < 2
    assert isinstance(errors[0], openai.APIConnectionError)
    assert _new_threads(before) == []


def test_start_is_idempotent_and_addresses_are_consistent() -> None:
    with FakeLLMServer() as server:
        assert server.start() is server
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        assert server.openai_base_url == server.base_url + "/v1"
        assert server.anthropic_base_url == server.gemini_base_url == server.base_url
        env = server.environ()
        assert env["OPENAI_BASE_URL"] == server.openai_base_url
        assert env["GOOGLE_GEMINI_BASE_URL"] == server.base_url
    with pytest.raises(RuntimeError):
        _ = server.port


def test_queue_reply_rejects_bad_arguments(fake_llm: FakeLLMServer) -> None:
    with pytest.raises(ValueError):
        fake_llm.queue_reply(text="x", times=0)
    with pytest.raises(TypeError):
        fake_llm.queue_reply("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        fake_llm.set_default(lambda request: Reply(), text="x")


def test_the_server_module_imports_no_provider_sdk() -> None:
    code = (
        "import sys, voker_core.testing.fake_llm.__main__\n"
        "bad = sorted({m.split('.')[0] for m in sys.modules}"
        " & {'openai', 'anthropic', 'google', 'httpx', 'httpx2', 'pydantic', 'requests'})\n"
        "print(bad)"
    )
    # voker_core's own __init__ may import requests; only the provider SDKs matter here.
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert set(json.loads(out.stdout.replace("'", '"'))) <= {"requests"}


def test_command_line_serves_until_interrupted() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "voker_core.testing.fake_llm", "--port", "0", "--reply", "Hi!"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        lines = []
        while not lines or not lines[-1].startswith("Ctrl-C"):
            line = process.stdout.readline()
            assert line, "the server exited early"
            lines.append(line.strip())
        env = dict(line.removeprefix("export ").split("=", 1) for line in lines if "=" in line)
        with openai.OpenAI(api_key="k", base_url=env["OPENAI_BASE_URL"], max_retries=0) as client:
            completion = client.chat.completions.create(model="m", messages=MESSAGES)
        assert completion.choices[0].message.content == "Hi!"
    finally:
        process.send_signal(2)  # SIGINT, like Ctrl-C
        assert process.wait(timeout=10) == 0
