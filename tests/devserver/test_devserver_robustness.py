"""Bad input, duplicates, concurrency, keep-alive speed and auth: what a client SDK relies on."""

from __future__ import annotations

import json
import socket
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

Url = Callable[..., str]

MIB = 1024 * 1024


def event_body(fingerprint_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "event_name": "llm",
        "properties": {},
        "session": "s1",
        "fingerprint_id": fingerprint_id,
        **extra,
    }


def detail_of(response: requests.Response) -> dict[str, Any]:
    assert response.headers["Content-Type"] == "application/json"
    detail: dict[str, Any] = response.json()["detail"]
    assert detail["message"]
    return detail


# -- bad bodies ------------------------------------------------------------------------------

BAD_EVENT_BODIES: list[tuple[str, Callable[[str], bytes], int, str]] = [
    ("malformed JSON", lambda fp: b'{"event_name": "llm",', 400, "invalid-json"),
    ("empty body", lambda fp: b"", 400, "invalid-json"),
    ("not UTF-8", lambda fp: b'{"event_name": "\xff"}', 400, "invalid-json"),
    ("NaN", lambda fp: json.dumps(event_body(fp, properties={"x": float("nan")})).encode(), 400, "invalid-json"),
    ("lone surrogate", lambda fp: b'{"event_name": "\\ud800"}', 400, "invalid-json"),
    ("number too large", lambda fp: json.dumps(event_body(fp)).replace('"properties": {}', '"properties": {"x": 1e999}').encode(), 400, "invalid-json"),
    ("deeply nested", lambda fp: b"[" * 100_000 + b"]" * 100_000, 400, "invalid-json"),
    ("array body", lambda fp: b"[1, 2]", 422, "validation-error"),
    ("properties a list", lambda fp: json.dumps(event_body(fp, properties=[1])).encode(), 422, "validation-error"),
    ("properties a string", lambda fp: json.dumps(event_body(fp, properties="x")).encode(), 422, "validation-error"),
    ("properties missing", lambda fp: json.dumps({k: v for k, v in event_body(fp).items() if k != "properties"}).encode(), 422, "validation-error"),
    ("session a number", lambda fp: json.dumps(event_body(fp, session=42)).encode(), 422, "validation-error"),
    ("session missing", lambda fp: json.dumps({k: v for k, v in event_body(fp).items() if k != "session"}).encode(), 422, "validation-error"),
    ("event_name missing", lambda fp: json.dumps({k: v for k, v in event_body(fp).items() if k != "event_name"}).encode(), 422, "validation-error"),
    ("event_name empty", lambda fp: json.dumps(event_body(fp, event_name="")).encode(), 422, "validation-error"),
    ("agent null", lambda fp: json.dumps(event_body(fp, agent=None)).encode(), 422, "validation-error"),
    ("person a number", lambda fp: json.dumps(event_body(fp, person=7)).encode(), 422, "validation-error"),
    ("fingerprint missing", lambda fp: json.dumps({k: v for k, v in event_body(fp).items() if k != "fingerprint_id"}).encode(), 422, "validation-error"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make_body", "status", "kind"),
    [case[1:] for case in BAD_EVENT_BODIES],
    ids=[case[0] for case in BAD_EVENT_BODIES],
)
def test_bad_event_bodies_get_4xx_with_detail_and_store_nothing(
    http: requests.Session,
    url: Url,
    voker_server: Any,
    fingerprint_id: str,
    make_body: Callable[[str], bytes],
    status: int,
    kind: str,
) -> None:
    body = make_body(fingerprint_id)
    response = http.post(url("events"), data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert detail_of(response)["type"] == kind
    assert voker_server.events() == []
    # The connection stays usable after an error.
    assert http.post(url("events"), json=event_body(fingerprint_id)).status_code == 200


def test_a_huge_offset_is_a_400_not_a_500(
    http: requests.Session, url: Url, voker_server: Any
) -> None:
    response = http.get(url("events"), params={"offset": "9" * 20})
    assert response.status_code == 400
    assert detail_of(response)["type"] == "invalid-query"
    # The dashboard takes page numbers from a browser: a huge one is the last page.
    assert http.get(f"{voker_server.base_url}/", params={"page": "9" * 20}).status_code == 200


def test_validation_errors_name_the_field(
    http: requests.Session, url: Url, fingerprint_id: str
) -> None:
    response = http.post(url("events"), json=event_body(fingerprint_id, session=42))
    detail = detail_of(response)
    assert detail["field"] == "session"
    assert "string" in detail["message"] and "number" in detail["message"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (("people",), {"person_id": 5}, "person_id"),
        (("people",), {"person_id": "p", "properties": [1]}, "properties"),
        (("people", "p"), {"properties": "x"}, "properties"),
        (("people", "p"), {}, "properties"),
        (("agents",), {}, "agent_name"),
        (("agents",), {"agent_name": "a", "description": 3}, "description"),
        (("agents", "a", "agent-versions"), {"agent_version_name": ""}, "agent_version_name"),
        (("fingerprints",), {"language": "python"}, "language_version"),
        (
            ("fingerprints",),
            {"language": "python", "language_version": "3", "system": "x", "all_packages": []},
            "all_packages",
        ),
    ],
)
def test_bad_bodies_for_other_calls(
    http: requests.Session,
    url: Url,
    voker_server: Any,
    path: tuple[str, ...],
    body: dict[str, Any],
    field: str,
) -> None:
    response = http.put(url(*path), json=body)
    assert response.status_code == 422, response.text
    assert detail_of(response)["field"] == field
    assert voker_server.people() == [] and voker_server.agents() == []
    assert voker_server.fingerprints() == []


def test_unknown_extra_fields_are_ignored(
    http: requests.Session, url: Url, voker_server: Any, fingerprint_id: str
) -> None:
    response = http.post(url("events"), json=event_body(fingerprint_id, future_field={"a": 1}))
    assert response.status_code == 200
    assert "future_field" not in response.json()
    assert len(voker_server.events()) == 1


def test_oversized_body_is_413_and_connection_survives(
    http: requests.Session, url: Url, voker_server: Any, fingerprint_id: str
) -> None:
    big = event_body(fingerprint_id, properties={"blob": "x" * (8 * MIB)})
    response = http.post(url("events"), json=big)
    assert response.status_code == 413
    detail = detail_of(response)
    assert detail["type"] == "payload-too-large"
    assert "8 MiB" in detail["message"]
    assert voker_server.events() == []
    assert http.post(url("events"), json=event_body(fingerprint_id)).status_code == 200


def test_body_just_under_the_limit_is_stored(
    http: requests.Session, url: Url, voker_server: Any, fingerprint_id: str
) -> None:
    body = event_body(fingerprint_id, properties={"blob": "y" * (8 * MIB - 200)})
    response = http.post(url("events"), json=body)
    assert response.status_code == 200
    assert len(voker_server.events()[0]["properties"]["blob"]) == 8 * MIB - 200


def _chunks(data: bytes, size: int = 1000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_chunked_bodies(
    http: requests.Session, url: Url, voker_server: Any, fingerprint_id: str
) -> None:
    good = json.dumps(event_body(fingerprint_id, properties={"via": "chunked"})).encode()
    response = http.post(url("events"), data=_chunks(good))  # a generator is sent chunked
    assert response.status_code == 200, response.text
    assert voker_server.events()[0]["properties"] == {"via": "chunked"}

    huge = json.dumps(event_body(fingerprint_id, properties={"b": "z" * (9 * MIB)})).encode()
    too_big = http.post(url("events"), data=_chunks(huge, 1 << 20))
    assert too_big.status_code == 413
    assert len(voker_server.events()) == 1


def test_malformed_http_gets_a_json_400(voker_server: Any) -> None:
    with socket.create_connection(("127.0.0.1", voker_server.port), timeout=5) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        answer = sock.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert json.loads(body)["detail"]["type"] == "bad-request"


# -- idempotency -----------------------------------------------------------------------------


def test_repeated_idempotency_key_stores_one_event(
    http: requests.Session, url: Url, voker_server: Any, fingerprint_id: str
) -> None:
    key = str(uuid.uuid4())
    answers = [
        http.post(url("events"), json=event_body(fingerprint_id), headers={"Idempotency-Key": key})
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].json() == answers[1].json() == answers[2].json()
    assert "Idempotent-Replayed" not in answers[0].headers
    assert answers[1].headers["Idempotent-Replayed"] == "true"
    assert len(voker_server.events()) == 1


def test_idempotency_key_from_concurrent_retries(
    url: Url, voker_server: Any, fingerprint_id: str
) -> None:
    key = str(uuid.uuid4())

    def send(_: int) -> dict[str, Any]:
        with requests.Session() as session:
            response = session.post(
                url("events"), json=event_body(fingerprint_id), headers={"Idempotency-Key": key}
            )
            assert response.status_code == 200
            body: dict[str, Any] = response.json()
            return body

    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(send, range(16)))
    assert len({b["event_id"] for b in bodies}) == 1
    assert len(voker_server.events()) == 1


def test_distinct_or_missing_keys_store_each_event(
    http: requests.Session, url: Url, voker_server: Any, fingerprint_id: str
) -> None:
    http.post(url("events"), json=event_body(fingerprint_id), headers={"Idempotency-Key": "a"})
    http.post(url("events"), json=event_body(fingerprint_id), headers={"Idempotency-Key": "b"})
    http.post(url("events"), json=event_body(fingerprint_id))
    http.post(url("events"), json=event_body(fingerprint_id))
    assert len(voker_server.events()) == 4


def test_rejected_event_does_not_burn_its_idempotency_key(
    http: requests.Session, url: Url, voker_server: Any, fingerprint_id: str
) -> None:
    # fingerprint-not-found: the client makes a new fingerprint and resends with the same key.
    headers = {"Idempotency-Key": "retry-me"}
    first = http.post(url("events"), json=event_body("stale"), headers=headers)
    assert first.status_code == 404
    second = http.post(url("events"), json=event_body(fingerprint_id), headers=headers)
    assert second.status_code == 200
    assert len(voker_server.events()) == 1


# -- concurrency and keep-alive ----------------------------------------------------------------


def test_eight_threads_times_500_events_lose_nothing(
    url: Url, voker_server: Any, fingerprint_id: str
) -> None:
    def worker(thread: int) -> int:
        ok = 0
        with requests.Session() as session:  # keep-alive, as the SDK's delivery does
            for i in range(500):
                body = event_body(
                    fingerprint_id,
                    session=f"t{thread}",
                    agent=f"agent-{thread % 3}",
                    person=f"p{i % 7}",
                    properties={"i": i},
                )
                ok += session.post(url("events"), json=body).status_code == 200
        return ok

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(worker, range(8))) == 4000
    assert len(voker_server.events()) == 4000
    for thread in range(8):
        indices = [e["properties"]["i"] for e in voker_server.events(session=f"t{thread}")]
        assert indices == list(range(500))  # per-connection order kept
    assert sorted(a["agent_name"] for a in voker_server.agents()) == [
        "agent-0",
        "agent-1",
        "agent-2",
    ]
    assert len(voker_server.people()) == 7


def test_keep_alive_requests_do_not_stall(
    http: requests.Session, url: Url, fingerprint_id: str
) -> None:
    # A server that sends a response in pieces with Nagle's algorithm on makes each request on a
    # reused connection wait ~40 ms for a delayed ACK; ours writes once, with TCP_NODELAY set.
    http.post(url("events"), json=event_body(fingerprint_id))  # open the connection
    timings = []
    for i in range(200):
        start = time.perf_counter()
        response = http.post(url("events"), json=event_body(fingerprint_id, properties={"i": i}))
        timings.append(time.perf_counter() - start)
        assert response.status_code == 200
    assert statistics.mean(timings) < 0.020, f"mean {statistics.mean(timings) * 1000:.1f} ms"


def test_latency_option_delays_answers(voker_server: Any, http: requests.Session) -> None:
    voker_server.latency = 0.05
    start = time.perf_counter()
    http.get(voker_server.base_url + "/healthz")
    assert time.perf_counter() - start >= 0.05
    voker_server.latency = 0.0


# -- auth ------------------------------------------------------------------------------------


@pytest.mark.voker_server(api_key="s3cret")
def test_api_key_is_enforced_when_set(http: requests.Session, url: Url, voker_server: Any) -> None:
    body = {"agent_name": "a"}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
        response = http.put(url("agents"), json=body, headers=headers)
        assert response.status_code == 401
        assert detail_of(response)["type"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    for read in (url("events"), url("people", "x")):
        assert http.get(read).status_code == 401
    assert voker_server.agents() == []

    ok = http.put(url("agents"), json=body, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    # Health and the API description stay open; the dashboard takes ?key= (browsers).
    assert http.get(voker_server.base_url + "/healthz").status_code == 200
    assert http.get(voker_server.base_url + "/openapi.json").status_code == 200
    assert http.get(voker_server.base_url + "/").status_code == 401
    assert http.get(voker_server.base_url + "/", params={"key": "s3cret"}).status_code == 200


def test_any_key_or_none_is_accepted_without_api_key(
    http: requests.Session, url: Url, voker_server: Any
) -> None:
    for headers in ({}, {"Authorization": "Bearer whatever"}, {"Authorization": "junk"}):
        assert http.put(url("agents"), json={"agent_name": "a"}, headers=headers).status_code == 200


# -- fault injection -------------------------------------------------------------------------


def test_fail_next_answers_errors_then_recovers(
    http: requests.Session, url: Url, voker_server: Any
) -> None:
    voker_server.fail_next(2, status=503, retry_after=1)
    first = http.put(url("agents"), json={"agent_name": "a"})
    second = http.put(url("agents"), json={"agent_name": "a"})
    third = http.put(url("agents"), json={"agent_name": "a"})
    assert [first.status_code, second.status_code, third.status_code] == [503, 503, 200]
    assert first.headers["Retry-After"] == "1"
    assert detail_of(first)["type"] == "injected-failure"
    assert len(voker_server.agents()) == 1

    voker_server.fail_next(1, status=429, path_prefix="/api/v1/events")
    assert http.get(url("agents")).status_code == 200  # other paths are unaffected
    limited = http.get(url("events"))
    assert limited.status_code == 429
    assert detail_of(limited)["type"] == "rate-limited"
