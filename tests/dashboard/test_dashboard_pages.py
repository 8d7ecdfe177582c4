"""The dashboard's pages over plain HTTP: what a user sees after the demo run.

The sessions list, its filters and pages, a session read as a conversation for every provider's
event shape, agents with versions, people with properties, 404s, and the API key in links.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from tests.dashboard.conftest import Send
from tests.dashboard.html_tree import Node, conversation, parse
from voker_core.testing.demo_data import DemoData


def _session_rows(document: str) -> dict[str, Node]:
    """The sessions table's rows by session id."""
    rows = parse(document).find("tbody").find_all("tr")
    return {row.find("a", cls="id").text(): row for row in rows}


def _cells(row: Node) -> list[str]:
    return [cell.text() for cell in row.find_all("td")]


def test_sessions_page_lists_every_session_with_its_figures(
    http: requests.Session, voker_server: Any, demo: DemoData
) -> None:
    page = http.get(voker_server.base_url + "/")
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    rows = _session_rows(page.text)
    assert set(rows) == set(demo.sessions.values())
    # Most recently active first: the last scenario sent comes first.
    assert next(iter(rows)) == demo.sessions["trip"]

    support = _cells(rows[demo.sessions["support"]])
    # session, agent, version, person, events, tokens (sum of usage.total_tokens), errors
    assert support[1:7] == ["support-bot", "v2", "user-42", "4", "1,025", "\u2014"]
    docs = _cells(rows[demo.sessions["docs"]])
    assert docs[1:6] == ["docs-helper", "v1", "anonymous", "2", "4,130"]

    failed = rows[demo.sessions["support_retry"]]
    assert "has-err" in failed.classes
    assert _cells(failed)[5:7] == ["\u2014", "1 error"]  # no usage reported; one failed call
    assert not any("has-err" in row.classes for row in rows.values() if row is not failed)


def test_sessions_link_to_their_conversation(
    http: requests.Session, voker_server: Any, demo: DemoData
) -> None:
    rows = _session_rows(http.get(voker_server.base_url + "/").text)
    href = rows[demo.sessions["docs"]].find("a", cls="id").attrs["href"]
    assert href == "/sessions/" + quote(demo.sessions["docs"], safe="")
    page = http.get(voker_server.base_url + href)
    assert page.status_code == 200
    assert parse(page.text).find("h1").text() == demo.sessions["docs"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"agent": "docs-helper"}, ["docs"]),
        ({"agent": "support-bot"}, ["support", "support_retry"]),
        ({"agent": "support-bot", "version": "v2"}, ["support", "support_retry"]),
        ({"agent": "support-bot", "version": "v1"}, []),
        ({"person": "user-7"}, ["research", "trip"]),
        ({"person": "user-42", "agent": "digest-worker"}, ["digest"]),
        ({"errors": "1"}, ["support_retry"]),
        ({"person": "user-42", "errors": "1"}, ["support_retry"]),
        (
            {"agent": "", "person": ""},
            ["support", "support_retry", "docs", "research", "digest", "trip"],
        ),
        ({"agent": "no-such-agent"}, []),
    ],
)
def test_sessions_filters(
    http: requests.Session,
    voker_server: Any,
    demo: DemoData,
    query: dict[str, str],
    expected: list[str],
) -> None:
    page = http.get(voker_server.base_url + "/", params=query)
    assert page.status_code == 200
    if expected:
        assert set(_session_rows(page.text)) == {demo.sessions[name] for name in expected}
    else:
        assert "No session matches these filters." in page.text
    # The form shows the filters in use.
    form = parse(page.text).find("form", cls="filters")
    selected = [o.attrs.get("value") for o in form.find_all("option") if "selected" in o.attrs]
    assert selected == ([query["agent"]] if query.get("agent") else [])
    person_input = next(i for i in form.find_all("input") if i.attrs.get("name") == "person")
    assert person_input.attrs["value"] == query.get("person", "")


def test_filter_form_offers_agents_and_people(
    http: requests.Session, voker_server: Any, demo: DemoData
) -> None:
    form = parse(http.get(voker_server.base_url + "/").text).find("form", cls="filters")
    assert form.attrs["method"] == "get"
    agents = [o.attrs["value"] for o in form.find_all("option") if o.attrs.get("value")]
    assert agents[: len(demo.agents)] == demo.agents
    assert set(agents[len(demo.agents) :]) == set(demo.people)  # the person suggestions


def test_sessions_pagination(http: requests.Session, voker_server: Any, send: Send) -> None:
    for number in range(120):
        send(session=f"s-{number:03d}", agent="bot", properties={"n": number})
    base = voker_server.base_url + "/"

    first = http.get(base, params={"limit": 50})
    assert list(_session_rows(first.text)) == [f"s-{n:03d}" for n in range(119, 69, -1)]
    assert "Showing 1\u201350 of 120 sessions" in first.text
    assert "Page 1 of 3" in first.text

    next_link = next(a for a in parse(first.text).find_all("a") if "Next" in a.text())
    assert parse_qs(urlsplit(next_link.attrs["href"]).query) == {"page": ["2"]}  # 50: default
    second = http.get(voker_server.base_url + next_link.attrs["href"])
    assert list(_session_rows(second.text)) == [f"s-{n:03d}" for n in range(69, 19, -1)]

    last = http.get(base, params={"limit": 50, "page": 3})
    assert list(_session_rows(last.text)) == [f"s-{n:03d}" for n in range(19, -1, -1)]
    assert "Showing 101\u2013120 of 120 sessions" in last.text

    # Past the end shows the last page; junk falls back to the defaults (50 per page).
    assert _session_rows(http.get(base, params={"limit": 50, "page": 99}).text).keys() == (
        _session_rows(last.text).keys()
    )
    assert len(_session_rows(http.get(base, params={"page": "x", "limit": "-3"}).text)) == 50
    # Filters survive paging.
    filtered = http.get(base, params={"agent": "bot", "limit": "100"})
    nxt = next(a for a in parse(filtered.text).find_all("a") if "Next" in a.text())
    assert parse_qs(urlsplit(nxt.attrs["href"]).query) == {
        "agent": ["bot"],
        "page": ["2"],
        "limit": ["100"],
    }


def test_session_page_reads_as_a_conversation_openai(
    http: requests.Session, voker_server: Any, demo: DemoData
) -> None:
    session = demo.sessions["support"]
    page = http.get(voker_server.base_url + "/sessions/" + quote(session, safe=""))
    assert page.status_code == 200
    turns = conversation(page.text)
    kinds = [kind for kind, _ in turns]
    assert kinds == ["user", "call", "result", "assistant", "user", "assistant"]
    assert turns[0][1].startswith("Hi! My order A-1042")
    assert "lookup_order" in turns[1][1] and '"order_id": "A-1042"' in turns[1][1]
    assert "lookup_order" in turns[2][1] and "Leipzig hub" in turns[2][1]
    assert turns[3][1].startswith("Good news: order A-1042")
    assert "\n\nWould you like the tracking link" in turns[3][1]  # line breaks kept
    assert turns[4][1] == "Yes please. And can it go to my office instead?"

    doc = parse(page.text)
    events = doc.find_all("article", cls="event")
    assert [e.attrs["id"] for e in events] == ["e1", "e2", "e3", "e4"]
    meta = [e.find(cls="meta").text() for e in events]
    assert "gpt-4o-mini-2024-07-18" in meta[0] and "latency 843 ms" in meta[0]
    assert "231 tokens (212 in, 19 out)" in meta[0] and "tool_calls" in meta[0]
    assert "TTFT 313 ms" in meta[1] and "stream" in meta[1] and "latency 1.63 s" in meta[1]
    assert "feedback" in meta[3]
    assert "thumbs_up" in events[3].text()
    # The system prompt is shown once (collapsed), the history is not repeated.
    assert len(doc.find_all("details", cls="system")) == 1
    stats = {
        s.find(cls="label").text(): s.find(cls="value").text() for s in doc.find_all(cls="stat")
    }
    assert stats["Tokens"] == "1,025" and stats["LLM calls"] == "3" and stats["Errors"] == "0"
    assert stats["Person"] == "user-42" and stats["Agent"] == "support-bot v2"


def test_session_page_anthropic_tool_use(
    http: requests.Session, voker_server: Any, demo: DemoData
) -> None:
    page = http.get(voker_server.base_url + "/sessions/" + quote(demo.sessions["docs"], safe=""))
    turns = conversation(page.text)
    assert [kind for kind, _ in turns] == ["user", "assistant", "call", "result", "assistant"]
    assert turns[2][1] == 'Tool call \u00b7 search_docs {"query": "flask session header"}'
    assert turns[3][1].startswith("Tool result \u00b7 search_docs docs/flask.md")
    assert "X-Voker-Session" in turns[4][1]
    meta = parse(page.text).find_all(cls="meta")[1].text()
    assert "2,140 tokens (2,052 in, 88 out, 1,840 cached)" in meta and "TTFT 640 ms" in meta


def test_session_page_gemini_function_call(
    http: requests.Session, voker_server: Any, demo: DemoData
) -> None:
    page = http.get(voker_server.base_url + "/sessions/" + quote(demo.sessions["trip"], safe=""))
    turns = conversation(page.text)
    assert [kind for kind, _ in turns] == ["user", "call", "result", "assistant"]
    assert "find_places" in turns[1][1] and '"indoor": true' in turns[1][1]
    assert "Museu Nacional do Azulejo" in turns[2][1]
    assert turns[3][1].startswith("14:00 \u2014 Museu Nacional do Azulejo")


def test_session_page_openai_responses(
    http: requests.Session, voker_server: Any, demo: DemoData
) -> None:
    page = http.get(voker_server.base_url + "/sessions/" + quote(demo.sessions["digest"], safe=""))
    turns = conversation(page.text)
    assert [kind for kind, _ in turns] == ["user", "assistant"]
    assert turns[0][1].startswith("Conversation web-")
    assert turns[1][1].startswith("Customer asked about the late order A-1042")
    system = parse(page.text).find("details", cls="system").text()
    assert "Summarise the support conversation" in system


def test_session_page_langchain_run_nesting(
    http: requests.Session, voker_server: Any, demo: DemoData
) -> None:
    page = http.get(
        voker_server.base_url + "/sessions/" + quote(demo.sessions["research"], safe="")
    )
    doc = parse(page.text)
    events = doc.find_all("article", cls="event")
    kinds = [e.find(cls="meta").find(cls="kind").text() for e in events]
    assert kinds == ["LLM call", "Tool", "LLM call", "Chain"]
    # Runs inside the agent's trace are nested under it; the top-level chain is not.
    assert ["nested" in e.classes for e in events] == [True, True, True, False]
    turns = conversation(page.text)
    assert [kind for kind, _ in turns] == ["user", "call", "call", "result", "assistant"]
    # The tool's result is shown once (by the tool event), not again from the next call's inputs.
    assert sum("light rain from 14:00" in text for _, text in turns) == 1
    assert "final output: Yes \u2014 light rain" in events[3].text()


def test_failed_call_is_highlighted(
    http: requests.Session, voker_server: Any, demo: DemoData
) -> None:
    session = demo.sessions["support_retry"]
    doc = parse(http.get(voker_server.base_url + "/sessions/" + quote(session, safe="")).text)
    [event] = doc.find_all("article", cls="event")
    assert "failed" in event.classes
    error = event.find("div", cls="error").text()
    assert error.startswith("RateLimitError HTTP 429 Error code: 429")
    assert "rate_limit_exceeded" in error
    assert "err" in doc.find_all(cls="stat")[5].classes


def test_raw_json_on_demand(http: requests.Session, voker_server: Any, demo: DemoData) -> None:
    session = demo.sessions["support"]
    doc = parse(http.get(voker_server.base_url + "/sessions/" + quote(session, safe="")).text)
    raws = doc.find_all("details", cls="raw")
    assert len(raws) == 4
    assert all("open" not in raw.attrs for raw in raws)  # collapsed until asked for
    raw = raws[0].find("pre").raw_text()
    assert '"session": "' + session in raw and '"tools": [' in raw and '"role": "system"' in raw


def test_session_events_are_paged(http: requests.Session, voker_server: Any, send: Send) -> None:
    for number in range(250):
        send(session="long one/\u00e9", event_name="step", properties={"n": number})
    url = voker_server.base_url + "/sessions/" + quote("long one/\u00e9", safe="")

    first = parse(http.get(url).text)
    ids = [e.attrs["id"] for e in first.find_all("article", cls="event")]
    assert ids == [f"e{n}" for n in range(1, 101)]  # oldest first, 100 per page

    last = http.get(url, params={"page": 3})
    doc = parse(last.text)
    ids = [e.attrs["id"] for e in doc.find_all("article", cls="event")]
    assert ids == [f"e{n}" for n in range(201, 251)]
    assert "Showing 201\u2013250 of 250 events" in last.text
    assert doc.find_all("article", cls="event")[0].find("dd").text() == "200"

    small = parse(http.get(url, params={"limit": 10, "page": 25}).text)
    ids = [e.attrs["id"] for e in small.find_all("article", cls="event")]
    assert ids == [f"e{n}" for n in range(241, 251)]
    prev = next(a for a in small.find_all("a") if "Previous" in a.text())
    assert parse_qs(urlsplit(prev.attrs["href"]).query) == {"page": ["24"], "limit": ["10"]}


def test_unknown_session_is_a_404_page(http: requests.Session, voker_server: Any) -> None:
    response = http.get(voker_server.base_url + "/sessions/" + quote("no/such", safe=""))
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Content-Security-Policy" in response.headers
    assert "Session not found" in response.text and "no/such" in response.text


def test_old_session_query_redirects(http: requests.Session, voker_server: Any, send: Send) -> None:
    send(session="a/b c?d#e", properties={})
    response = http.get(
        voker_server.base_url + "/", params={"session": "a/b c?d#e"}, allow_redirects=False
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/sessions/a%2Fb%20c%3Fd%23e"
    assert http.get(voker_server.base_url + response.headers["Location"]).status_code == 200


@pytest.mark.parametrize("session", [".", ".."])
def test_dot_sessions_are_linked_and_served_through_the_query(
    http: requests.Session, voker_server: Any, send: Send, session: str
) -> None:
    """Browsers resolve "." and ".." in a path (even as %2E), so those ids live in the query."""
    send(session=session, properties={"n": 1})
    listing = parse(http.get(voker_server.base_url + "/").text)
    [link] = [a for a in listing.find_all("a") if a.text() == session]
    href = link.attrs["href"]
    assert urlsplit(href).path == "/" and parse_qs(urlsplit(href).query) == {"session": [session]}
    page = http.get(voker_server.base_url + href, allow_redirects=False)
    assert page.status_code == 200
    assert "Session not found" not in page.text and session in page.text


def test_agents_page(http: requests.Session, voker_server: Any, demo: DemoData) -> None:
    page = http.get(voker_server.base_url + "/agents")
    assert page.status_code == 200
    panels = parse(page.text).find_all("section", cls="agent")
    assert [p.find("h2").text() for p in panels] == demo.agents
    support = panels[0]
    assert "Answers order and shipping questions" in support.text()
    assert "2 sessions \u00b7 5 events" in support.text()
    versions = [_cells(row) for row in support.find("tbody").find_all("tr")]
    assert [v[:5] for v in versions] == [
        ["v1", "1", "first prompt", "0", "0"],
        ["v2", "2", "adds the order lookup tool", "2", "5"],
    ]
    link = support.find("tbody").find_all("a")[1].attrs["href"]
    assert parse_qs(urlsplit(link).query) == {"agent": ["support-bot"], "version": ["v2"]}


def test_people_page(http: requests.Session, voker_server: Any, demo: DemoData) -> None:
    page = http.get(voker_server.base_url + "/people")
    assert page.status_code == 200
    rows = parse(page.text).find("tbody").find_all("tr")
    assert [row.find("a", cls="id").text() for row in rows] == ["user-42", "user-7"]
    ada = rows[0]
    props = dict(
        zip(
            [dt.text() for dt in ada.find_all("dt")],
            [dd.text() for dd in ada.find_all("dd")],
            strict=True,
        )
    )
    assert props == {
        "username": "ada",
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "plan": "pro",
    }
    assert _cells(ada)[2:4] == ["3", "6"]  # sessions, events
    assert parse_qs(urlsplit(ada.find("a").attrs["href"]).query) == {"person": ["user-42"]}


def test_people_are_paged(http: requests.Session, voker_server: Any, api: Any) -> None:
    for number in range(130):
        api.people.create(person_id=f"p{number:03d}", properties={"n": number})
    doc = parse(http.get(voker_server.base_url + "/people", params={"page": 2}).text)
    ids = [row.find("a", cls="id").text() for row in doc.find("tbody").find_all("tr")]
    assert ids == [f"p{n:03d}" for n in range(100, 130)]


def test_nav_bar_on_every_page(http: requests.Session, voker_server: Any, demo: DemoData) -> None:
    session = quote(demo.sessions["support"], safe="")
    for path, active in (
        ("/", "Sessions"),
        (f"/sessions/{session}", "Sessions"),
        ("/agents", "Agents"),
        ("/people", "People"),
    ):
        nav = parse(http.get(voker_server.base_url + path).text).find("nav")
        assert [a.text() for a in nav.find_all("a")][1:4] == ["Sessions", "Agents", "People"]
        assert nav.find("a", cls="on").text() == active


@pytest.mark.voker_server(api_key="s3cret")
def test_pages_need_the_key_and_keep_it_in_links(
    http: requests.Session, voker_server: Any, demo: DemoData
) -> None:
    session = quote(demo.sessions["support"], safe="")
    for path in ("/", f"/sessions/{session}", "/agents", "/people"):
        assert http.get(voker_server.base_url + path).status_code == 401
        page = http.get(voker_server.base_url + path, params={"key": "s3cret"})
        assert page.status_code == 200
        doc = parse(page.text)
        internal = [
            a.attrs["href"] for a in doc.find_all("a") if a.attrs.get("href", "").startswith("/")
        ]
        assert internal and all("key=s3cret" in href for href in internal), path
    form = parse(http.get(voker_server.base_url + "/", params={"key": "s3cret"}).text)
    hidden = [i.attrs for i in form.find_all("input") if i.attrs.get("type") == "hidden"]
    assert {"type": "hidden", "name": "key", "value": "s3cret"} in hidden


def test_unknown_query_parameters_are_refused(http: requests.Session, voker_server: Any) -> None:
    response = http.get(voker_server.base_url + "/agents", params={"bogus": "1"})
    assert response.status_code == 400
    assert response.json()["detail"]["type"] == "invalid-query"
