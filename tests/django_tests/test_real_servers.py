"""End to end over real HTTP: the project under uvicorn (ASGI) and Django's threaded live server
(WSGI), real browsers' cookies (``httpx`` clients), concurrent visitors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.django_tests.servers import uvicorn_server
from voker_django import session_id_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def asgi_url(transactional_db: None) -> Iterator[str]:
    with uvicorn_server() as url:
        yield url


def _login(browser: httpx.Client, path: str, username: str) -> None:
    response = browser.post(
        path, content=json.dumps({"username": username, "password": "correct horse"})
    )
    assert response.status_code == 200, response.text


def test_asgi_server_end_to_end(
    asgi_url: str, voker: Any, llm: Any, make_user: Any, default_voker_client: Any
) -> None:
    user = make_user("ada")
    with (
        httpx.Client(base_url=asgi_url, timeout=10) as anonymous,
        httpx.Client(base_url=asgi_url, timeout=10) as ada,
    ):
        assert anonymous.get("/achat/", params={"q": "anon async"}).json() == {
            "reply": "Echo: anon async"
        }
        assert anonymous.get("/chat/", params={"q": "anon sync"}).status_code == 200
        _login(ada, "/alogin/", "ada")
        assert ada.get("/achat/", params={"q": "ada async"}).status_code == 200
        assert ada.get("/astream/", params={"q": "ada stream"}).text == "Echo: ada stream"
        anonymous_session = session_id_for(anonymous.cookies["sessionid"])
        ada_session = session_id_for(ada.cookies["sessionid"])
    default_voker_client.flush(5)
    events = voker.wait_for_events(4, event_name="llm")
    seen = {
        e["properties"]["inputs"]["messages"][0]["content"]: (e["session"], e["person"])
        for e in events
    }
    assert seen == {
        "anon async": (anonymous_session, None),
        "anon sync": (anonymous_session, None),
        "ada async": (ada_session, str(user.pk)),
        "ada stream": (ada_session, str(user.pk)),
    }
    assert voker.person(str(user.pk))["properties"]["email"] == "ada@example.com"


def _concurrent_visitors(
    base_url: str, make_user: Any, login_path: str, paths: tuple[str, ...]
) -> dict[str, Any]:
    """Eight visitors (five logged in, three sending a session header), one request per path each,
    all at once from a thread pool. Returns question -> (expected session, expected person)."""
    expected: dict[str, Any] = {}
    browsers: list[tuple[httpx.Client, dict[str, str], str | None, str]] = []
    for i in range(8):
        browser = httpx.Client(base_url=base_url, timeout=20)
        if i < 5:
            user = make_user(f"user{i}")
            _login(browser, login_path, f"user{i}")
            browsers.append((browser, {}, str(user.pk), f"v{i}"))
        else:
            browsers.append((browser, {"X-Voker-Session": f"header-{i}"}, None, f"v{i}"))

    def visit(args: tuple[httpx.Client, dict[str, str], str | None, str, int]) -> None:
        browser, headers, _, name, j = args
        path = paths[j]
        response = browser.get(path, params={"q": f"{name}-{j}"}, headers=headers)
        assert response.status_code == 200, response.text

    jobs = [(b, h, p, n, j) for (b, h, p, n) in browsers for j in range(len(paths))]
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(visit, jobs))
        for browser, headers, person, name in browsers:
            session = headers.get("X-Voker-Session") or session_id_for(browser.cookies["sessionid"])
            for j in range(len(paths)):
                expected[f"{name}-{j}"] = (session, person)
    finally:
        for browser, *_ in browsers:
            browser.close()
    return expected


def _assert_each_event_has_its_visitor(voker: Any, expected: dict[str, Any]) -> None:
    events = voker.wait_for_events(len(expected), event_name="llm")
    assert len(events) == len(expected)
    for event in events:
        # The question ("v3-2": visitor 3, request 2) is in the inputs, whatever their shape
        # (provider messages, or a LangChain run's prompt).
        inputs = json.dumps(event["properties"]["inputs"])
        [question] = [q for q in expected if q in inputs]
        assert (event["session"], event["person"]) == expected[question], question


def test_concurrent_requests_under_asgi_never_mix_visitors(
    asgi_url: str, voker: Any, llm: Any, make_user: Any, default_voker_client: Any
) -> None:
    paths = ("/chat/", "/achat/", "/chain/", "/achain/", "/astream/")
    expected = _concurrent_visitors(asgi_url, make_user, "/alogin/", paths)
    default_voker_client.flush(10)
    _assert_each_event_has_its_visitor(voker, expected)


def test_concurrent_requests_under_wsgi_never_mix_visitors(
    live_server: Any, voker: Any, llm: Any, make_user: Any, default_voker_client: Any
) -> None:
    paths = ("/chat/", "/achat/", "/chain/", "/stream/")
    expected = _concurrent_visitors(live_server.url, make_user, "/login/", paths)
    default_voker_client.flush(10)
    _assert_each_event_has_its_visitor(voker, expected)
