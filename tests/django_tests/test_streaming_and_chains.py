"""LLM calls made while a streamed body is produced, and LangChain runnables in views."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from django.test import AsyncClient, Client

from voker_django import session_id_for

pytestmark = pytest.mark.django_db


def test_streamed_body_keeps_session_person_and_agent(
    client: Client, voker: Any, llm: Any, make_user: Any, default_voker_client: Any
) -> None:
    user = make_user()
    client.force_login(user)
    response = client.get("/stream/", {"q": "stream it"})
    assert b"".join(response.streaming_content) == b"Echo: stream it"
    default_voker_client.flush(5)
    [event] = voker.wait_for_events(1, event_name="llm")
    assert event["properties"]["stream"] is True
    assert (event["session"], event["person"], event["agent"]) == (
        session_id_for(client.cookies["sessionid"].value),
        str(user.pk),
        "support-bot",
    )


def test_streamed_body_of_a_first_visit_gets_its_session_cookie(
    client: Client, voker: Any, llm: Any, default_voker_client: Any
) -> None:
    # The LLM call happens after the headers left: the session is created before, so the
    # browser's next request continues the same Voker session.
    first = client.get("/stream/", {"q": "first"})
    b"".join(first.streaming_content)
    second = client.get("/stream/", {"q": "second"})
    b"".join(second.streaming_content)
    default_voker_client.flush(5)
    events = voker.wait_for_events(2, event_name="llm")
    assert {e["session"] for e in events} == {session_id_for(first.cookies["sessionid"].value)}


def test_decorated_streaming_view_keeps_its_agent(
    client: Client, voker: Any, llm: Any, default_voker_client: Any
) -> None:
    response = client.get("/billing-stream/", {"q": "bill"}, headers={"X-Voker-Session": "b"})
    assert b"".join(response.streaming_content) == b"Echo: bill"
    default_voker_client.flush(5)
    [event] = voker.wait_for_events(1, event_name="llm")
    assert (event["agent"], event["agent_version"], event["session"]) == (
        "billing-bot",
        "default",
        "b",
    )


@pytest.mark.django_db(transaction=True)
async def test_async_streamed_body_under_asgi(
    async_client: AsyncClient, voker: Any, llm: Any, default_voker_client: Any
) -> None:
    response = await async_client.get("/astream/", {"q": "async stream"})
    body = b"".join([chunk async for chunk in response.streaming_content])
    assert body == b"Echo: async stream"
    default_voker_client.flush(5)
    [event] = voker.wait_for_events(1, event_name="llm")
    assert event["session"] == session_id_for(response.cookies["sessionid"].value)
    assert event["agent"] == "support-bot"


def test_langchain_runnable_in_a_sync_view(
    client: Client, voker: Any, make_user: Any, default_voker_client: Any
) -> None:
    user = make_user()
    client.force_login(user)
    response = client.get("/chain/", {"q": "chain"})
    assert response.json() == {"reply": "Chain: chain"}
    default_voker_client.flush(5)
    [event] = voker.wait_for_events(1, event_name="llm")
    assert event["properties"]["api"] == "langchain"
    assert event["properties"]["output"]
    assert (event["session"], event["person"], event["agent"], event["agent_version"]) == (
        session_id_for(client.cookies["sessionid"].value),
        str(user.pk),
        "support-bot",
        "v1",
    )


# --- which streamed responses create a first-time visitor's session before the headers leave ---


def _sessions() -> int:
    from django.contrib.sessions.models import Session

    return Session.objects.count()


def test_streamed_download_adds_no_query_and_no_cookie(
    client: Client, voker: Any, django_assert_num_queries: Any
) -> None:
    # A CSV export records nothing: a first-time visitor gets no session row and no cookie.
    with django_assert_num_queries(0):
        response = client.get("/export/")
        assert b"".join(response.streaming_content) == b"row,0\nrow,1\nrow,2\n"
    assert "sessionid" not in response.cookies
    assert _sessions() == 0


@pytest.mark.django_db(transaction=True)
async def test_non_llm_event_stream_under_asgi_creates_no_session(
    async_client: AsyncClient, voker: Any
) -> None:
    from asgiref.sync import sync_to_async

    response = await async_client.get("/aticks/")
    body = b"".join([chunk async for chunk in response.streaming_content])
    assert body.count(b"data: tick") == 3
    assert "sessionid" not in response.cookies
    assert await sync_to_async(_sessions)() == 0


@pytest.mark.parametrize("path", ["/stream/", "/stream-class/", "/billing-stream/"])
def test_declared_streaming_chat_keeps_one_session_per_browser(
    path: str, voker: Any, llm: Any, default_voker_client: Any
) -> None:
    # streams_llm (function or class) or agent(...): the session is created before the headers
    # leave, so the browser's second request continues the first one's Voker session.
    browser = Client()
    first = browser.get(path, {"q": "first"})
    assert b"".join(first.streaming_content) == b"Echo: first"
    second = browser.get(path, {"q": "second"})
    assert b"".join(second.streaming_content) == b"Echo: second"
    default_voker_client.flush(5)
    events = voker.wait_for_events(2, event_name="llm")
    assert {e["session"] for e in events} == {session_id_for(first.cookies["sessionid"].value)}
    assert "sessionid" not in second.cookies  # the browser already had it
    assert _sessions() == 1


def test_undeclared_streaming_chat_of_a_first_visit_gets_a_session_of_its_own(
    voker: Any, llm: Any, default_voker_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # The body records after the headers left: a session created now would never reach the
    # browser, so the event gets an id of its own, the visitor no cookie, the database no row.
    from voker_django import sessions

    sessions._warned_late = False
    browser = Client()
    with caplog.at_level("DEBUG", logger="voker.django"):
        first = browser.get("/stream-undeclared/", {"q": "one"})
        assert b"".join(first.streaming_content) == b"Echo: one"
        second = browser.get("/stream-undeclared/", {"q": "two"})
        assert b"".join(second.streaming_content) == b"Echo: two"
    default_voker_client.flush(5)
    events = voker.wait_for_events(2, event_name="llm")
    assert all(e["session"].startswith("request-") for e in events)
    assert len({e["session"] for e in events}) == 2
    assert "sessionid" not in first.cookies and "sessionid" not in second.cookies
    assert _sessions() == 0
    late = [r for r in caplog.records if "after its headers were sent" in r.getMessage()]
    assert [r.levelname for r in late] == ["WARNING", "DEBUG"]  # once per process, then debug
    assert "streams_llm" in late[0].getMessage()


def test_undeclared_streaming_chat_uses_the_session_a_browser_already_has(
    client: Client, voker: Any, llm: Any, default_voker_client: Any
) -> None:
    session = client.session  # a saved session, its cookie in the browser
    session["cart"] = ["book"]
    session.save()
    client.cookies["sessionid"] = session.session_key
    response = client.get("/stream-undeclared/", {"q": "known"})
    assert b"".join(response.streaming_content) == b"Echo: known"
    default_voker_client.flush(5)
    [event] = voker.wait_for_events(1, event_name="llm")
    assert event["session"] == session_id_for(session.session_key)


# --- a client that goes away mid-stream: the body's clean-up runs inside the request's context ---


@pytest.fixture
def closed_bodies() -> Any:
    from tests.django_tests.chat.views import CLOSED_BODIES

    CLOSED_BODIES.clear()
    yield CLOSED_BODIES
    CLOSED_BODIES.clear()


@pytest.mark.parametrize(("path", "read"), [("/cut-stream/", 1), ("/closing-body-stream/", 0)])
def test_a_body_closed_early_cleans_up_inside_the_context(
    path: str,
    read: int,
    client: Client,
    voker: Any,
    make_user: Any,
    closed_bodies: Any,
    default_voker_client: Any,
) -> None:
    # The WSGI server closes the response when the client went away (or, for HEAD, without
    # iterating it): a generator's finally, or a body's close(), may record that.
    user = make_user()
    client.force_login(user)
    response = client.get(path, headers={"X-Voker-Session": "cut"})
    chunks = iter(response.streaming_content)
    assert [next(chunks) for _ in range(read)] == [b"one "][:read]
    response.close()
    assert closed_bodies == [{"agent": "billing-bot", "session": "cut", "outcome": "recorded"}]
    default_voker_client.flush(5)
    [event] = voker.wait_for_events(1, event_name="stream_cut")
    assert (event["session"], event["person"], event["agent"]) == (
        "cut",
        str(user.pk),
        "billing-bot",
    )
    assert event["properties"] == {"sent": read}


async def _serve_until_the_client_leaves(path: str) -> None:
    """Serve ``path`` through Django's ASGI handler to a client that leaves after the first
    chunk, while the server is still sending it (its socket buffer full, say)."""
    from django.core.asgi import get_asgi_application

    first_chunk = asyncio.Event()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await first_chunk.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            first_chunk.set()
            await asyncio.Event().wait()  # never completes: the handler cancels it

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"x-voker-session", b"acut")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    await get_asgi_application()(scope, receive, send)


@pytest.mark.django_db(transaction=True)
async def test_an_async_body_closed_early_cleans_up_inside_the_context(
    voker: Any, closed_bodies: Any, default_voker_client: Any
) -> None:
    await _serve_until_the_client_leaves("/acut-stream/")
    # Django leaves the abandoned body to the event loop's async-generator finaliser.
    for _ in range(200):
        if closed_bodies:
            break
        gc.collect()
        await asyncio.sleep(0.01)
    assert closed_bodies == [{"agent": "billing-bot", "session": "acut", "outcome": "recorded"}]
    await asyncio.to_thread(default_voker_client.flush, 5)
    [event] = await asyncio.to_thread(voker.wait_for_events, 1, event_name="stream_cut")
    assert (event["session"], event["agent"]) == ("acut", "billing-bot")
