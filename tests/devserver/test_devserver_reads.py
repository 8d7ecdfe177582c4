"""The devserver-only read endpoints (DESIGN §7), the dashboard and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from voker_core.devserver.routing import ROUTES

Url = Callable[..., str]


@pytest.fixture
def send(http: requests.Session, url: Url, fingerprint_id: str) -> Callable[..., dict[str, Any]]:
    """Post one event (defaults filled in) and return the stored record."""

    def post(**fields: Any) -> dict[str, Any]:
        body = {
            "event_name": "llm",
            "properties": {},
            "session": "s1",
            "fingerprint_id": fingerprint_id,
            **fields,
        }
        response = http.post(url("events"), json=body)
        assert response.status_code == 200, response.text
        event: dict[str, Any] = response.json()
        return event

    return post


def test_events_listing_filters_and_order(
    http: requests.Session, url: Url, send: Callable[..., dict[str, Any]]
) -> None:
    first = send(session="s1", agent="a", person="p1", properties={"n": 1})
    second = send(session="s2", agent="b", person="p2", event_name="tool", properties={"n": 2})
    third = send(session="s1", agent="a", agent_version="v2", properties={"n": 3})

    everything = http.get(url("events")).json()
    assert everything == {"events": [first, second, third], "total": 3}  # oldest first
    for query, expected in [
        ({"session": "s1"}, [first, third]),
        ({"agent": "b"}, [second]),
        ({"person": "p1"}, [first]),
        ({"event_name": "tool"}, [second]),
        ({"agent_version": "v2"}, [third]),
        ({"agent_version": "default"}, [first, second]),
        ({"session": "s1", "agent": "a", "person": "p1"}, [first]),
        ({"session": "nope"}, []),
        ({"session": ""}, [first, second, third]),  # an empty value is no filter
    ]:
        page = http.get(url("events"), params=query).json()
        assert page["events"] == expected, query
        assert page["total"] == len(expected)


def test_events_pagination(
    http: requests.Session, url: Url, send: Callable[..., dict[str, Any]]
) -> None:
    sent = [send(properties={"i": i}) for i in range(7)]
    page = http.get(url("events"), params={"limit": 3, "offset": 2}).json()
    assert page["total"] == 7
    assert page["events"] == sent[2:5]
    assert http.get(url("events"), params={"offset": 6}).json()["events"] == sent[6:]
    assert http.get(url("events"), params={"limit": 0}).json() == {"events": [], "total": 7}


@pytest.mark.parametrize(
    "query",
    [{"limit": "x"}, {"limit": "-1"}, {"limit": "100000"}, {"offset": "-3"}, {"sesion": "typo"}],
)
def test_bad_list_queries_are_400(http: requests.Session, url: Url, query: dict[str, str]) -> None:
    response = http.get(url("events"), params=query)
    assert response.status_code == 400
    assert response.json()["detail"]["type"] == "invalid-query"


def test_sessions_summarise_each_conversation(
    http: requests.Session, url: Url, send: Callable[..., dict[str, Any]]
) -> None:
    a1 = send(session="s1", agent="router", person="p1")
    send(session="s2", agent="other")
    send(session="s1", agent="writer", event_name="tool")
    last = send(session="s1", person="p2")

    page = http.get(url("sessions")).json()
    assert page["total"] == 2
    s1 = page["sessions"][0]  # most recently active first
    assert [s["session"] for s in page["sessions"]] == ["s1", "s2"]
    assert s1["agents"] == ["router", "writer"]
    assert s1["agent"] == "writer"
    assert s1["people"] == ["p1", "p2"]
    assert s1["person"] == "p2"
    assert s1["event_count"] == 3
    assert s1["event_names"] == {"llm": 2, "tool": 1}
    assert (s1["first_seen"], s1["last_seen"]) == (a1["created_at"], last["created_at"])

    by_agent = http.get(url("sessions"), params={"agent": "other"}).json()
    assert [s["session"] for s in by_agent["sessions"]] == ["s2"]


def test_list_agents_versions_and_people(
    http: requests.Session, url: Url, voker_server: Any
) -> None:
    agent = http.put(url("agents"), json={"agent_name": "a"}).json()
    http.put(url("agents"), json={"agent_name": "b"})
    v1 = http.put(url("agents", "a", "agent-versions"), json={"agent_version_name": "v1"}).json()
    person = http.put(url("people"), json={"person_id": "p", "properties": {"x": 1}}).json()

    agents = http.get(url("agents")).json()
    assert agents["total"] == 2
    assert agents["agents"][0] == agent
    assert agents["agents"] == voker_server.agents()
    assert http.get(url("agents", "a", "agent-versions")).json() == {
        "agent_versions": [v1],
        "total": 1,
    }
    versions_of_ghost = http.get(url("agents", "ghost", "agent-versions"))
    assert versions_of_ghost.status_code == 404
    assert versions_of_ghost.json()["detail"]["type"] == "agent-not-found"
    assert http.get(url("people")).json() == {"people": [person], "total": 1}
    assert http.get(url("people"), params={"limit": 0}).json() == {"people": [], "total": 1}


def test_healthz(http: requests.Session, voker_server: Any) -> None:
    response = http.get(voker_server.base_url + "/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_unknown_path_and_wrong_method(http: requests.Session, voker_server: Any) -> None:
    missing = http.get(voker_server.base_url + "/api/v2/nothing")
    assert missing.status_code == 404
    assert missing.json()["detail"]["type"] == "not-found"
    wrong = http.delete(voker_server.base_url + "/api/v1/events")
    assert wrong.status_code == 405
    assert wrong.json()["detail"]["type"] == "method-not-allowed"
    assert wrong.headers["Allow"] == "GET, POST"


def test_undecodable_path_and_query_are_400(http: requests.Session, voker_server: Any) -> None:
    path = http.get(voker_server.base_url + "/api/v1/people/%FF%FE")
    assert path.status_code == 400
    assert path.json()["detail"]["type"] == "invalid-path"
    query = http.get(voker_server.base_url + "/api/v1/events?session=%FF")
    assert query.status_code == 400
    assert query.json()["detail"]["type"] == "invalid-query"


def test_head_is_answered_like_get_without_a_body(
    http: requests.Session, voker_server: Any
) -> None:
    response = http.head(voker_server.base_url + "/healthz")
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["Content-Length"]) > 0
    # The connection is still in sync for the next request.
    assert http.get(voker_server.base_url + "/healthz").json()["status"] == "ok"


def test_dashboard_lists_sessions_and_escapes_content(
    http: requests.Session, voker_server: Any, send: Callable[..., dict[str, Any]]
) -> None:
    evil = "<script>alert('x')</script>"
    send(session=evil, agent="<b>bot</b>", person="p&q", properties={"html": evil})
    index = http.get(voker_server.base_url + "/")
    assert index.status_code == 200
    assert index.headers["Content-Type"].startswith("text/html")
    assert "<script>" not in index.text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in index.text
    assert "&lt;b&gt;bot&lt;/b&gt;" in index.text and "p&amp;q" in index.text

    detail = http.get(voker_server.base_url + "/", params={"session": evil})
    assert detail.status_code == 200
    assert "<script>" not in detail.text
    assert "&lt;script&gt;" in detail.text and "html" in detail.text


def test_dashboard_without_events(http: requests.Session, voker_server: Any) -> None:
    page = http.get(voker_server.base_url + "/").text
    assert "No events yet" in page


def test_openapi_document_matches_the_routes(http: requests.Session, voker_server: Any) -> None:
    document = http.get(voker_server.base_url + "/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    served = {(route.method, route.template) for route in ROUTES}
    assert documented == served
    for path, operations in document["paths"].items():
        params = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        for operation in operations.values():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == params, path
            assert "200" in operation["responses"]
    schemas = document["components"]["schemas"]
    # Every $ref points at a defined schema.
    refs = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"].rsplit("/", 1)[1])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert refs <= set(schemas)


def test_openapi_query_parameters_match_the_routes(
    http: requests.Session, voker_server: Any
) -> None:
    document = http.get(voker_server.base_url + "/openapi.json").json()
    for route in ROUTES:
        operation = document["paths"][route.template][route.method.lower()]
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        assert declared == set(route.query), route.template
