"""The nine Voker API v1 calls (DESIGN §2) against the devserver over real HTTP."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

Url = Callable[..., str]

UTC_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def assert_utc(stamp: str) -> None:
    assert UTC_STAMP.match(stamp), stamp
    assert datetime.fromisoformat(stamp.replace("Z", "+00:00")).utcoffset() == timedelta(0)


def assert_error(response: requests.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    detail: dict[str, Any] = response.json()["detail"]
    assert detail["type"] == kind
    assert detail["message"]
    return detail


def event_body(fingerprint_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "event_name": "llm",
        "properties": {"model": "gpt-x"},
        "session": "conv-1",
        "fingerprint_id": fingerprint_id,
        **extra,
    }


# -- fingerprints ----------------------------------------------------------------------------


def test_fingerprint_create_returns_id_and_stores_payload(
    http: requests.Session, url: Url, voker_server: Any
) -> None:
    payload = {
        "language": "python",
        "language_version": "3.11.4 (main)",
        "system": "Linux-6.1-x86_64",
        "voker_sdk_version": "0.1.0",
        "all_packages": {"requests": "2.32.0"},
        "git_branch": "main",
    }
    first = http.put(url("fingerprints"), json=payload)
    second = http.put(url("fingerprints"), json=payload)
    assert first.status_code == second.status_code == 200
    first_id, second_id = first.json()["fingerprint_id"], second.json()["fingerprint_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", first_id)
    assert first_id != second_id  # one per process start, never shared

    stored = http.get(url("fingerprints", first_id)).json()
    assert stored["fingerprint_id"] == first_id
    assert stored["payload"] == payload
    assert_utc(stored["created_at"])
    assert [fp["fingerprint_id"] for fp in voker_server.fingerprints()] == [first_id, second_id]


def test_unknown_fingerprint_read_is_404(http: requests.Session, url: Url) -> None:
    assert_error(http.get(url("fingerprints", "nope")), 404, "fingerprint-not-found")


# -- agents and versions ---------------------------------------------------------------------


def test_agent_create_twice_returns_the_same_record(http: requests.Session, url: Url) -> None:
    first = http.put(url("agents"), json={"agent_name": "support-bot", "description": "Answers"})
    again = http.put(url("agents"), json={"agent_name": "support-bot", "description": "changed"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()  # no-op: same number, same description, same timestamp
    agent = first.json()
    assert agent["agent_name"] == "support-bot"
    assert agent["description"] == "Answers"
    assert agent["deprecated_at"] is None
    assert isinstance(agent["agent_number"], int)
    assert_utc(agent["created_at"])
    assert http.get(url("agents", "support-bot")).json() == agent


def test_agents_get_numbers_in_creation_order(http: requests.Session, url: Url) -> None:
    numbers = [http.put(url("agents"), json={"agent_name": n}).json() for n in ("a", "b", "c")]
    assert [a["agent_number"] for a in numbers] == sorted({a["agent_number"] for a in numbers})
    assert numbers[0]["description"] is None


def test_repeated_creates_and_events_burn_no_numbers(
    http: requests.Session, url: Url, voker_server: Any, fingerprint_id: str
) -> None:
    # Plug-ins re-create their agents at every process start and every event names its agent
    # and person again: none of that may use up an agent number (nor a people row id).
    first = http.put(url("agents"), json={"agent_name": "first"}).json()["agent_number"]
    http.put(url("people"), json={"person_id": "p1"})
    for _ in range(3):
        http.put(url("agents"), json={"agent_name": "first"})
        http.put(url("people"), json={"person_id": "p1"})
        body = event_body(fingerprint_id, agent="first", person="p1")
        assert http.post(url("events"), json=body).status_code == 200
    second = http.put(url("agents"), json={"agent_name": "second"}).json()["agent_number"]
    assert second == first + 1
    assert [a["agent_number"] for a in voker_server.agents()] == [first, first + 1]
    with closing(sqlite3.connect(voker_server.db_path)) as conn:
        sequences = dict(conn.execute("SELECT name, seq FROM sqlite_sequence"))
    assert (sequences["agents"], sequences["people"]) == (2, 1)


def test_unknown_agent_is_404(http: requests.Session, url: Url) -> None:
    assert_error(http.get(url("agents", "ghost")), 404, "agent-not-found")


def test_agent_version_create_twice_and_numbering(http: requests.Session, url: Url) -> None:
    http.put(url("agents"), json={"agent_name": "bot"})
    v1 = http.put(url("agents", "bot", "agent-versions"), json={"agent_version_name": "v1"})
    v1_again = http.put(
        url("agents", "bot", "agent-versions"),
        json={"agent_version_name": "v1", "description": "ignored"},
    )
    v2 = http.put(
        url("agents", "bot", "agent-versions"),
        json={"agent_version_name": "v2", "description": "second prompt"},
    )
    assert v1.status_code == v1_again.status_code == v2.status_code == 200
    assert v1_again.json() == v1.json()
    assert v1.json()["agent_version_number"] == 1
    assert v2.json()["agent_version_number"] == 2
    assert v2.json()["description"] == "second prompt"
    assert v2.json()["deprecated_at"] is None
    assert_utc(v2.json()["created_at"])
    got = http.get(url("agents", "bot", "agent-versions", "v2"))
    assert got.json() == v2.json()


def test_version_under_unknown_agent_is_agent_not_found(
    http: requests.Session, url: Url, voker_server: Any
) -> None:
    created = http.put(url("agents", "ghost", "agent-versions"), json={"agent_version_name": "v1"})
    assert_error(created, 404, "agent-not-found")
    assert_error(http.get(url("agents", "ghost", "agent-versions", "v1")), 404, "agent-not-found")
    assert voker_server.agents() == []


def test_unknown_version_of_known_agent_is_version_not_found(
    http: requests.Session, url: Url
) -> None:
    http.put(url("agents"), json={"agent_name": "bot"})
    response = http.get(url("agents", "bot", "agent-versions", "v9"))
    assert_error(response, 404, "agent-version-not-found")


# -- people ----------------------------------------------------------------------------------


def test_person_create_twice_keeps_the_first(http: requests.Session, url: Url) -> None:
    first = http.put(url("people"), json={"person_id": "u1", "properties": {"plan": "pro"}})
    again = http.put(url("people"), json={"person_id": "u1", "properties": {"plan": "free"}})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["properties"] == {"plan": "pro"}
    assert_utc(first.json()["created_at"])
    assert http.get(url("people", "u1")).json() == first.json()


def test_person_create_without_properties(http: requests.Session, url: Url) -> None:
    person = http.put(url("people"), json={"person_id": "u2"}).json()
    assert person["properties"] == {}


def test_person_update_merges_properties(
    http: requests.Session, url: Url, voker_server: Any
) -> None:
    http.put(url("people"), json={"person_id": "u1", "properties": {"plan": "pro", "seats": 3}})
    updated = http.put(url("people", "u1"), json={"properties": {"seats": 5, "email": "a@b.c"}})
    assert updated.status_code == 200
    expected = {"plan": "pro", "seats": 5, "email": "a@b.c"}
    assert updated.json()["properties"] == expected
    assert http.get(url("people", "u1")).json()["properties"] == expected
    assert voker_server.person("u1")["properties"] == expected


def test_unknown_person_is_404_for_get_and_update(
    http: requests.Session, url: Url, voker_server: Any
) -> None:
    assert_error(http.get(url("people", "ghost")), 404, "person-not-found")
    update = http.put(url("people", "ghost"), json={"properties": {"a": 1}})
    assert_error(update, 404, "person-not-found")
    assert voker_server.people() == []


# -- events ----------------------------------------------------------------------------------


def test_event_create_returns_and_stores_the_event(
    http: requests.Session, url: Url, voker_server: Any, fingerprint_id: str
) -> None:
    response = http.post(url("events"), json=event_body(fingerprint_id))
    assert response.status_code == 200
    event = response.json()
    assert event["event_name"] == "llm"
    assert event["properties"] == {"model": "gpt-x"}
    assert event["session"] == "conv-1"
    assert event["fingerprint_id"] == fingerprint_id
    assert event["agent"] is None and event["agent_version"] is None and event["person"] is None
    assert_utc(event["created_at"])
    assert voker_server.events() == [event]


def test_event_creates_unknown_agent_version_and_person(
    http: requests.Session, url: Url, voker_server: Any, fingerprint_id: str
) -> None:
    body = event_body(fingerprint_id, agent="new-bot", agent_version="v7", person="user-9")
    assert http.post(url("events"), json=body).status_code == 200
    assert [a["agent_name"] for a in voker_server.agents()] == ["new-bot"]
    assert [v["agent_version_name"] for v in voker_server.agent_versions("new-bot")] == ["v7"]
    assert voker_server.person("user-9")["properties"] == {}
    [event] = voker_server.events(person="user-9")
    assert (event["agent"], event["agent_version"]) == ("new-bot", "v7")


def test_event_with_agent_but_no_version_uses_the_default_version(
    http: requests.Session, url: Url, voker_server: Any, fingerprint_id: str
) -> None:
    http.put(url("agents"), json={"agent_name": "bot"})
    for _ in range(2):
        http.post(url("events"), json=event_body(fingerprint_id, agent="bot"))
    versions = voker_server.agent_versions("bot")
    assert [v["agent_version_name"] for v in versions] == ["default"]
    assert [e["agent_version"] for e in voker_server.events(agent="bot")] == ["default"] * 2


def test_event_leaves_existing_person_properties_alone(
    http: requests.Session, url: Url, voker_server: Any, fingerprint_id: str
) -> None:
    http.put(url("people"), json={"person_id": "u1", "properties": {"plan": "pro"}})
    http.post(url("events"), json=event_body(fingerprint_id, person="u1"))
    assert voker_server.person("u1")["properties"] == {"plan": "pro"}


def test_event_with_unknown_fingerprint_is_404_and_stores_nothing(
    http: requests.Session, url: Url, voker_server: Any
) -> None:
    body = event_body("not-a-fingerprint", agent="bot", person="u1")
    assert_error(http.post(url("events"), json=body), 404, "fingerprint-not-found")
    # The agent and person the event named must not be half-created either.
    assert voker_server.events() == []
    assert voker_server.agents() == []
    assert voker_server.people() == []


@pytest.mark.parametrize("session", ["", "   ", "\t\n"])
def test_empty_session_is_422_session_id_empty(
    http: requests.Session, url: Url, voker_server: Any, fingerprint_id: str, session: str
) -> None:
    response = http.post(url("events"), json=event_body(fingerprint_id, session=session))
    detail = assert_error(response, 422, "session-id-empty")
    assert detail["field"] == "session"
    assert voker_server.events() == []


def test_agent_version_without_agent_is_rejected(
    http: requests.Session, url: Url, voker_server: Any, fingerprint_id: str
) -> None:
    response = http.post(url("events"), json=event_body(fingerprint_id, agent_version="v1"))
    assert assert_error(response, 422, "validation-error")["field"] == "agent_version"
    assert voker_server.events() == []


# -- identifiers with reserved and non-ASCII characters ------------------------------------------

WEIRD_IDS = [
    "a/b",
    "/leading/and/trailing/",
    "what?x=1&y=2",
    "hash#fragment",
    "100%",
    "%2F already-encoded",
    "with space",
    "plus+sign",
    "semi;colon,comma",
    "emoji 😀🤖",
    "naïve café",
    "日本語のユーザー",
    "a\\b",
    "'quotes\" <tags>",
]


@pytest.mark.parametrize("person_id", WEIRD_IDS)
def test_weird_person_ids_round_trip(
    http: requests.Session, url: Url, voker_server: Any, person_id: str
) -> None:
    created = http.put(url("people"), json={"person_id": person_id, "properties": {"k": 1}})
    assert created.status_code == 200
    got = http.get(url("people", person_id))
    assert got.status_code == 200, got.text
    assert got.json()["person_id"] == person_id
    updated = http.put(url("people", person_id), json={"properties": {"j": 2}})
    assert updated.json()["properties"] == {"k": 1, "j": 2}
    assert [p["person_id"] for p in voker_server.people()] == [person_id]


@pytest.mark.parametrize("name", WEIRD_IDS)
def test_weird_agent_and_version_names_round_trip(
    http: requests.Session, url: Url, voker_server: Any, name: str
) -> None:
    assert http.put(url("agents"), json={"agent_name": name}).status_code == 200
    assert http.get(url("agents", name)).json()["agent_name"] == name
    version = http.put(url("agents", name, "agent-versions"), json={"agent_version_name": name})
    assert version.status_code == 200, version.text
    got = http.get(url("agents", name, "agent-versions", name))
    assert got.status_code == 200, got.text
    assert got.json()["agent_version_name"] == name
    listed = http.get(url("agents", name, "agent-versions")).json()["agent_versions"]
    assert [v["agent_version_name"] for v in listed] == [name]


def test_dot_segments_encoded_by_the_client_reach_the_server(
    http: requests.Session, voker_server: Any
) -> None:
    # "." and ".." are removed by URL normalisation unless sent as %2E; the server decodes them.
    for person_id in (".", ".."):
        http.put(f"{voker_server.base_url}/api/v1/people", json={"person_id": person_id})
    for encoded, person_id in (("%2E", "."), ("%2E%2E", "..")):
        raw = f"GET /api/v1/people/{encoded} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        status, body = raw_request(voker_server.port, raw.encode())
        assert status == 200, body
        assert f'"person_id":"{person_id}"'.encode() in body


def raw_request(port: int, data: bytes) -> tuple[int, bytes]:
    """Send bytes on a fresh socket and return (status, body) of the answer."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    answer = b"".join(chunks)
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


# -- through the project's ApiClient ------------------------------------------------------------


def test_api_client_round_trip_with_weird_ids(voker_server: Any) -> None:
    from voker_core import AgentNotFoundError, ApiClient, SessionIdEmptyError

    person_id = "user/42?#% 😀"
    with ApiClient(api_key="k", base_url=voker_server.base_url, max_retries=0) as api:
        agent = api.agents.create(agent_name="team/bot ✨", description="d")
        assert api.agents.create(agent_name="team/bot ✨").agent_number == agent.agent_number
        api.agent_versions.create(agent_name="team/bot ✨", agent_version_name="v1/β")
        assert (
            api.agent_versions.get(
                agent_name="team/bot ✨", agent_version_name="v1/β"
            ).agent_version_number
            == 1
        )
        api.people.create(person_id=person_id, properties={"a": 1})
        assert api.people.update(person_id=person_id, properties={"b": 2}).properties == {
            "a": 1,
            "b": 2,
        }
        fingerprint = api.fingerprints.create()
        api.events.create(
            event_name="llm",
            properties={"x": 1},
            session="s",
            fingerprint_id=fingerprint.fingerprint_id,
            agent="team/bot ✨",
            person=person_id,
        )
        with pytest.raises(AgentNotFoundError):
            api.agents.get(agent_name="nobody")
        with pytest.raises(SessionIdEmptyError):
            api.events.create(
                event_name="llm",
                properties={},
                session=" ",
                fingerprint_id=fingerprint.fingerprint_id,
            )
    [event] = voker_server.events()
    assert (event["agent"], event["agent_version"], event["person"]) == (
        "team/bot ✨",
        "default",
        person_id,
    )
    assert voker_server.fingerprints()[0]["payload"]["language"] == "python"
