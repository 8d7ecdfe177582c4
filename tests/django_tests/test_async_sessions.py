"""The session of an async LLM call is created without blocking the event loop.

``SessionResolver.aresolve`` creates a first-time visitor's session through ``sync_to_async``;
the async provider wrappers await it (``VokerContext.aresolve_session``) before calling the
provider. The session store here is Django's database backend with a slow ``create()`` (a remote
database under load), and a ticker task in the same loop measures how long the loop stalls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.sessions.backends.db import SessionStore as DbSessionStore
from django.contrib.sessions.models import Session
from django.test import AsyncClient, RequestFactory, override_settings

from voker_django import session_id_for
from voker_django.conf import get_settings
from voker_django.sessions import SessionResolver

pytestmark = pytest.mark.django_db(transaction=True)

SLOW_SECONDS = 0.5
# A stall shorter than half the slow INSERT: generous for a loaded CI machine, and still far
# below what blocking on the INSERT costs.
MAX_STALL = SLOW_SECONDS / 2

CREATED: list[str] = []


class SessionStore(DbSessionStore):
    """The database backend with a slow database (``SESSION_ENGINE`` = this module)."""

    def create(self) -> None:
        time.sleep(SLOW_SECONDS)
        super().create()
        CREATED.append(self.session_key or "")


@asynccontextmanager
async def loop_stalls() -> AsyncIterator[list[float]]:
    """The gaps between the ticks of a 10 ms ticker running in this loop during the block."""
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.05)
    try:
        yield gaps
    finally:
        stop.set()
        await task


def _resolver(session_key: str | None = None) -> tuple[Any, SessionResolver]:
    request = RequestFactory().get("/chat/")
    request.session = SessionStore(session_key)
    return request, SessionResolver(request, get_settings())


@pytest.fixture(autouse=True)
def _forget_created() -> None:
    CREATED.clear()


async def _count_sessions() -> int:
    return await sync_to_async(Session.objects.count)()


async def test_aresolve_creates_the_session_without_blocking_the_loop() -> None:
    request, resolver = _resolver()
    async with loop_stalls() as gaps:
        value = await resolver.aresolve()
    assert max(gaps) < MAX_STALL, f"the event loop stalled {max(gaps):.3f} s"
    assert request.session.session_key == CREATED[0]
    assert value == session_id_for(CREATED[0])  # the key itself never leaves the site
    assert request.session.modified  # so SessionMiddleware sends its cookie
    assert await _count_sessions() == 1


async def test_aresolve_resolves_once_for_concurrent_callers_and_the_sync_path() -> None:
    _, resolver = _resolver()
    values = await asyncio.gather(*(resolver.aresolve() for _ in range(5)))
    assert len(set(values)) == 1
    assert len(CREATED) == 1
    assert resolver() == values[0]  # the sync path gets the same id, with no second query
    assert await resolver.aresolve() == values[0]
    assert await _count_sessions() == 1


async def test_aresolve_after_the_sync_path_gives_the_same_id() -> None:
    _, resolver = _resolver()
    value = await sync_to_async(resolver)()
    assert await resolver.aresolve() == value
    assert len(CREATED) == 1


async def test_aresolve_uses_an_existing_session_key_without_a_query() -> None:
    store = SessionStore()
    await sync_to_async(store.save)()  # the browser's session, its cookie sent back
    CREATED.clear()
    _, resolver = _resolver(store.session_key)
    resolve: Callable[[], Awaitable[str]] = resolver.aresolve
    assert await resolve() == session_id_for(store.session_key)
    assert CREATED == []


async def test_aresolve_after_the_headers_left_creates_no_session() -> None:
    request, resolver = _resolver()
    resolver.headers_sent()
    value = await resolver.aresolve()
    assert value.startswith("request-")
    assert request.session.session_key is None
    assert await _count_sessions() == 0


@override_settings(SESSION_ENGINE=__name__)
@pytest.mark.parametrize("header", [False, True], ids=["first-visit", "with-header"])
async def test_async_llm_call_of_a_first_visit_does_not_block_the_event_loop(
    header: bool, voker: Any, llm: Any, default_voker_client: Any
) -> None:
    # End to end: an async view under ASGI makes an ordinary `await AsyncOpenAI(...)` call for a
    # visitor without a session. The session INSERT must happen off the loop, and the event
    # must carry the session whose cookie the browser got.
    # Warm up first (URLconf, views and SDK imports, the first request of a handler): a
    # process's first request stalls the loop for reasons that have nothing to do with sessions.
    warm_up = await AsyncClient().get("/achat/", headers={"X-Voker-Session": "warm-up"})
    assert warm_up.status_code == 200
    browser = AsyncClient()
    headers = {"X-Voker-Session": "given"} if header else {}
    async with loop_stalls() as gaps:
        response = await browser.get("/achat/", {"q": "no stall"}, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"reply": "Echo: no stall"}
    assert max(gaps) < MAX_STALL, f"the event loop stalled {max(gaps):.3f} s"
    session = "given" if header else session_id_for(response.cookies["sessionid"].value)
    await asyncio.to_thread(default_voker_client.flush, 5)
    [event] = await asyncio.to_thread(voker.wait_for_events, 1, event_name="llm", session=session)
    assert event["properties"]["inputs"]["messages"][0]["content"] == "no stall"
    if header:
        assert "sessionid" not in response.cookies
        assert await _count_sessions() == 0
    else:
        assert session == session_id_for(CREATED[0])
        assert await _count_sessions() == 1
