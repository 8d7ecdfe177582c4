"""Thousands of sessions and events: the dashboard pages them with SQL and stays quick.

5,000 events are written straight into the devserver's store (the same ``Store.create_event``
the HTTP handler calls; over HTTP the setup alone would take several seconds), then every page
is read over real HTTP. The time budget is loose on purpose: a page costs a few tens of
milliseconds here, a page built from every event would cost seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests

from tests.dashboard.html_tree import parse
from voker_core.testing import voker_test_server

BUDGET_S = 1.5
SMALL_SESSIONS = 1000
BIG_SESSION_EVENTS = 2000


@pytest.fixture(scope="module")
def crowded() -> Iterator[Any]:
    """One server for the module (the tests only read): 1,000 small sessions and a big one."""
    with voker_test_server() as server:
        _fill(server.store)
        yield server


def _fill(store: Any) -> None:
    fingerprint = store.create_fingerprint({"language": "python"})["fingerprint_id"]
    for number in range(SMALL_SESSIONS * 3):
        store.create_event(
            event_name="llm",
            properties={"usage": {"total_tokens": 7}, "error": None},
            session=f"small-{number % SMALL_SESSIONS:04d}",
            fingerprint_id=fingerprint,
            agent=f"agent-{number % 5}",
            person=f"person-{number % 40}",
        )
    for number in range(BIG_SESSION_EVENTS):
        failed = number % 100 == 99
        store.create_event(
            event_name="llm",
            properties={
                "api": "openai-chat-completions",
                "inputs": {"messages": [{"role": "user", "content": f"question {number}"}]},
                "output": {"choices": [{"message": {"content": f"answer {number}"}}]},
                "usage": {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15},
                "latency_ms": 120.0,
                "error": {"type": "APIError", "message": "boom", "status_code": 500}
                if failed
                else None,
            },
            session="big",
            fingerprint_id=fingerprint,
            agent="agent-0",
            person="person-0",
        )


def _timed_get(http: requests.Session, url: str, **params: Any) -> tuple[str, float]:
    start = time.perf_counter()
    response = http.get(url, params=params)
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, response.text[:500]
    return response.text, elapsed


def test_sessions_list_pages_through_a_thousand_sessions(
    http: requests.Session, crowded: Any
) -> None:
    base = crowded.base_url
    first, elapsed = _timed_get(http, base + "/")
    assert elapsed < BUDGET_S
    rows = parse(first).find("tbody").find_all("tr")
    assert len(rows) == 50
    assert "1,001 sessions" in first and "Page 1 of 21" in first
    big = rows[0]  # the most recently active
    cells = [cell.text() for cell in big.find_all("td")]
    assert cells[0] == "big" and cells[4:7] == ["2,000", "30,000", "20 errors"]

    last, elapsed = _timed_get(http, base + "/", page=21)
    assert elapsed < BUDGET_S
    assert len(parse(last).find("tbody").find_all("tr")) == 1

    filtered, elapsed = _timed_get(http, base + "/", agent="agent-3", person="person-3", limit=500)
    assert elapsed < BUDGET_S
    # Events n with n % 40 == 3 (so n % 5 == 3 too) fall in sessions n % 1000: 3, 43, ..., 963.
    names = [row.find("a", cls="id").text() for row in parse(filtered).find("tbody").find_all("tr")]
    assert sorted(names) == [f"small-{n:04d}" for n in range(3, 1000, 40)]

    errors, elapsed = _timed_get(http, base + "/", errors="1")
    assert elapsed < BUDGET_S
    names = [row.find("a", cls="id").text() for row in parse(errors).find("tbody").find_all("tr")]
    assert names == ["big"]


def test_a_session_of_two_thousand_events_is_paged(http: requests.Session, crowded: Any) -> None:
    url = crowded.base_url + "/sessions/" + quote("big")
    first, elapsed = _timed_get(http, url)
    assert elapsed < BUDGET_S
    doc = parse(first)
    events = doc.find_all("article", cls="event")
    assert len(events) == 100
    assert "Showing 1\u2013100 of 2,000 events" in first and "Page 1 of 20" in first
    stats = {
        s.find(cls="label").text(): s.find(cls="value").text() for s in doc.find_all(cls="stat")
    }
    assert stats["Events"] == "2,000" and stats["Tokens"] == "30,000" and stats["Errors"] == "20"

    last, elapsed = _timed_get(http, url, page=20)
    assert elapsed < BUDGET_S
    events = parse(last).find_all("article", cls="event")
    assert [e.attrs["id"] for e in (events[0], events[-1])] == ["e1901", "e2000"]
    assert "failed" in events[-1].classes  # number 1999 failed
    assert "question 1999" in events[-1].text() and "answer 1999" in events[-1].text()


def test_other_pages_stay_quick(http: requests.Session, crowded: Any) -> None:
    agents, elapsed = _timed_get(http, crowded.base_url + "/agents")
    assert elapsed < BUDGET_S
    assert len(parse(agents).find_all("section", cls="agent")) == 5
    people, elapsed = _timed_get(http, crowded.base_url + "/people")
    assert elapsed < BUDGET_S
    assert len(parse(people).find("tbody").find_all("tr")) == 40
