"""The exact bytes on the wire, and the retry policy, checked with a scripted HTTP server."""

from __future__ import annotations

import json
import platform
import time
import uuid
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from voker_core import ApiClient, RateLimitError, ServerError, VokerConnectionError, VokerError
from voker_core._version import __version__


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status=status, headers=headers, content_type="application/json"
    )


AGENT = {
    "agent_name": "a",
    "description": None,
    "agent_number": 1,
    "created_at": "2024-05-01T10:00:00Z",
    "deprecated_at": None,
}


@pytest.fixture
def api(httpserver: HTTPServer) -> Any:
    with ApiClient(api_key="sk-1", base_url=httpserver.url_for("/").rstrip("/")) as client:
        yield client


def test_headers_method_path_and_absent_optional_keys(
    httpserver: HTTPServer, api: ApiClient
) -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return _json(200, AGENT)

    httpserver.expect_request("/api/v1/agents", method="PUT").respond_with_handler(handler)
    api.agents.create(agent_name="a")
    request = seen[0]
    assert request.headers["Authorization"] == "Bearer sk-1"
    major, minor, _ = platform.python_version_tuple()
    assert (
        request.headers["User-Agent"] == f"voker-integrations/{__version__} python/{major}.{minor}"
    )
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.get_data()) == {"agent_name": "a"}  # no "description": null


def test_event_body_has_no_null_keys_and_carries_idempotency_key(
    httpserver: HTTPServer, api: ApiClient
) -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return _json(200, {})

    httpserver.expect_request("/api/v1/events", method="POST").respond_with_handler(handler)
    api.events.create(
        event_name="e", properties={"x": 1}, session="s", fingerprint_id="f", idempotency_key="k-1"
    )
    assert json.loads(seen[0].get_data()) == {
        "event_name": "e",
        "properties": {"x": 1},
        "session": "s",
        "fingerprint_id": "f",
    }
    assert seen[0].headers["Idempotency-Key"] == "k-1"


def test_retries_of_an_event_reuse_one_generated_idempotency_key(
    httpserver: HTTPServer, api: ApiClient
) -> None:
    keys: list[str] = []

    def handler(request: Request) -> Response:
        keys.append(request.headers["Idempotency-Key"])
        return _json(503 if len(keys) < 3 else 200, {})

    httpserver.expect_request("/api/v1/events", method="POST").respond_with_handler(handler)
    api.events.create(event_name="e", properties={}, session="s", fingerprint_id="f")
    api.events.create(event_name="e", properties={}, session="s", fingerprint_id="f")
    assert len(keys) == 4
    assert keys[0] == keys[1] == keys[2] != keys[3]
    assert str(uuid.UUID(keys[0])) == keys[0]


def test_path_segments_are_percent_encoded(httpserver: HTTPServer, api: ApiClient) -> None:
    raw_paths: list[str] = []

    def handler(request: Request) -> Response:
        raw_paths.append(request.environ.get("RAW_URI") or request.environ["REQUEST_URI"])
        return _json(200, {**AGENT, "agent_name": "a/b c?#%🚀"})

    httpserver.expect_request("/api/v1/agents/a/b c?#%🚀", method="GET").respond_with_handler(
        handler
    )
    api.agents.get(agent_name="a/b c?#%🚀")
    assert raw_paths == ["/api/v1/agents/a%2Fb%20c%3F%23%25%F0%9F%9A%80"]


def test_503_twice_then_200_is_one_successful_call(httpserver: HTTPServer, api: ApiClient) -> None:
    answers = [_json(503, {"detail": "busy"}), _json(503, {"detail": "busy"}), _json(200, AGENT)]
    calls: list[float] = []

    def handler(request: Request) -> Response:
        calls.append(time.monotonic())
        return answers[len(calls) - 1]

    httpserver.expect_request("/api/v1/agents/a").respond_with_handler(handler)
    assert api.agents.get(agent_name="a").agent_name == "a"
    assert len(calls) == 3


def test_retries_are_bounded_then_the_error_is_raised(
    httpserver: HTTPServer, api: ApiClient
) -> None:
    httpserver.expect_request("/api/v1/agents/a").respond_with_response(_json(502, {}))
    with pytest.raises(ServerError) as err:
        api.agents.get(agent_name="a")
    assert err.value.status_code == 502
    assert len(httpserver.log) == 3  # max_retries=2


def test_429_with_retry_after_waits_about_that_long(httpserver: HTTPServer, api: ApiClient) -> None:
    answers = [
        _json(429, {"detail": {"type": "rate-limited"}}, {"Retry-After": "1"}),
        _json(200, AGENT),
    ]
    calls: list[float] = []

    def handler(request: Request) -> Response:
        calls.append(time.monotonic())
        return answers[len(calls) - 1]

    httpserver.expect_request("/api/v1/agents/a").respond_with_handler(handler)
    api.agents.get(agent_name="a")
    assert len(calls) == 2
    assert 0.95 <= calls[1] - calls[0] <= 2.5


def test_429_after_retries_raises_rate_limit_error_with_retry_after(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/agents/a").respond_with_response(
        _json(429, {}, {"Retry-After": "0"})
    )
    with ApiClient(api_key="k", base_url=httpserver.url_for("").rstrip("/"), max_retries=0) as api:
        with pytest.raises(RateLimitError) as err:
            api.agents.get(agent_name="a")
    assert err.value.retry_after == 0.0


def test_400_and_500_are_raised_at_once_without_retry(
    httpserver: HTTPServer, api: ApiClient
) -> None:
    httpserver.expect_request("/api/v1/agents/a").respond_with_response(
        _json(400, {"detail": {"type": "bad-request", "message": "nope"}})
    )
    with pytest.raises(VokerError) as err:
        api.agents.get(agent_name="a")
    assert err.value.status_code == 400 and "nope" in str(err.value)
    assert len(httpserver.log) == 1
    httpserver.clear()
    httpserver.expect_request("/api/v1/agents/b").respond_with_response(_json(500, {}))
    with pytest.raises(ServerError):
        api.agents.get(agent_name="b")
    assert len(httpserver.log) == 1


def test_connection_refused_is_retried_then_raised() -> None:
    with ApiClient(api_key="k", base_url="http://127.0.0.1:9", max_retries=1) as api:
        started = time.monotonic()
        with pytest.raises(VokerConnectionError):
            api.agents.get(agent_name="a")
    assert time.monotonic() - started < 5
