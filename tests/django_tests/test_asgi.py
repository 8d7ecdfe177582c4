"""Async views under ASGI (Django's ``AsyncClient``): no ``SynchronousOnlyOperation``, the user
read with ``await request.auser()``, sessions created off the event loop's thread."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from voker_django import session_id_for

pytestmark = pytest.mark.django_db(transaction=True)


async def test_async_view_records_session_and_logged_in_user(
    async_client: AsyncClient, voker: Any, llm: Any, make_user: Any, default_voker_client: Any
) -> None:
    user = await sync_to_async(make_user)("ada")
    await async_client.aforce_login(user)
    response = await async_client.get("/achat/", {"q": "async hello"})
    assert response.status_code == 200
    assert response.json() == {"reply": "Echo: async hello"}
    default_voker_client.flush(5)
    [event] = voker.wait_for_events(1, event_name="llm")
    assert event["person"] == str(user.pk)
    assert event["session"] == session_id_for(async_client.cookies["sessionid"].value)
    assert (event["agent"], event["agent_version"]) == ("support-bot", "v1")
    person = voker.person(str(user.pk))
    assert person["properties"]["username"] == "ada"


async def test_first_visit_creates_the_session_from_an_async_view(
    async_client: AsyncClient, voker: Any, llm: Any, default_voker_client: Any
) -> None:
    first = await async_client.get("/achat/", {"q": "one"})
    await async_client.get("/achat/", {"q": "two"})
    assert first.status_code == 200
    default_voker_client.flush(5)
    events = voker.wait_for_events(2, event_name="llm")
    assert {e["session"] for e in events} == {session_id_for(first.cookies["sessionid"].value)}
    assert {e["person"] for e in events} == {None}


async def test_custom_event_from_an_async_view(
    async_client: AsyncClient, voker: Any, make_user: Any, default_voker_client: Any
) -> None:
    # events.create() is synchronous: the lazy session and person are resolved from inside the
    # event loop, which must neither fail nor run the ORM on the loop's thread.
    user = await sync_to_async(make_user)("grace")
    await async_client.aforce_login(user)
    response = await async_client.get("/afeedback/")
    assert response.status_code == 200
    default_voker_client.flush(5)
    [event] = voker.wait_for_events(1, event_name="feedback")
    assert event["person"] == str(user.pk)
    assert event["session"] == session_id_for(async_client.cookies["sessionid"].value)


async def test_async_langchain_runnable_in_a_view(
    async_client: AsyncClient, voker: Any, make_user: Any, default_voker_client: Any
) -> None:
    user = await sync_to_async(make_user)("alan")
    await async_client.aforce_login(user)
    response = await async_client.get(
        "/achain/", {"q": "chain me"}, headers={"X-Voker-Session": "lc"}
    )
    assert response.json() == {"reply": "Chain: chain me"}
    # The handler resolves the lazy person on the event loop; block off the loop, as an async
    # application must, so that resolution can finish while we wait.
    await asyncio.to_thread(default_voker_client.flush, 5)
    [event] = await asyncio.to_thread(voker.wait_for_events, 1, event_name="llm")
    assert event["properties"]["api"] == "langchain"
    assert (event["session"], event["person"], event["agent"]) == (
        "lc",
        str(user.pk),
        "support-bot",
    )


async def test_async_login_then_chat(
    async_client: AsyncClient, voker: Any, llm: Any, make_user: Any, default_voker_client: Any
) -> None:
    user = await sync_to_async(make_user)("barbara")
    response = await async_client.post(
        "/alogin/",
        {"username": "barbara", "password": "correct horse"},
        content_type="application/json",
    )
    assert response.status_code == 200
    await async_client.get("/achat/", {"q": "after login"})
    default_voker_client.flush(5)
    [event] = voker.wait_for_events(1, event_name="llm")
    assert event["person"] == str(user.pk)


@pytest.mark.parametrize("middleware", ["TokenAuthMiddleware", "LazyTokenAuthMiddleware"])
async def test_async_view_person_is_the_request_user_a_token_middleware_set(
    middleware: str, settings: Any, voker: Any, llm: Any, make_user: Any, default_voker_client: Any
) -> None:
    # A browser logged in as bob sends ada's API token: request.user is ada, in the view and
    # in Voker, as for a sync view. (The lazy one is loaded off the event loop.)
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE[:-1],
        f"tests.django_tests.chat.middleware.{middleware}",
        settings.MIDDLEWARE[-1],
    ]
    ada = await sync_to_async(make_user)("ada")
    bob = await sync_to_async(make_user)("bob")
    browser = AsyncClient()
    await browser.aforce_login(bob)
    for path in ("/achat/", "/chat/"):
        response = await browser.get(
            path, {"q": path}, headers={"X-Api-Token": "ada", "X-Voker-Session": "api-1"}
        )
        assert response.status_code == 200
    await asyncio.to_thread(default_voker_client.flush, 5)
    events = await asyncio.to_thread(voker.wait_for_events, 2, event_name="llm")
    assert [(e["session"], e["person"]) for e in events] == [("api-1", str(ada.pk))] * 2
    assert [p["person_id"] for p in voker.people()] == [str(ada.pk)]


async def test_async_view_that_logs_in_after_auser_records_the_logged_in_user(
    voker: Any, llm: Any, make_user: Any, default_voker_client: Any
) -> None:
    user = await sync_to_async(make_user)("ada")
    browser = AsyncClient()
    response = await browser.get(
        "/alogin-chat/", {"q": "hi", "username": "ada", "password": "correct horse"}
    )
    assert response.json() == {"reply": "Echo: hi"}
    await asyncio.to_thread(default_voker_client.flush, 5)
    [event] = await asyncio.to_thread(voker.wait_for_events, 1, event_name="llm")
    assert event["person"] == str(user.pk)
    assert event["session"] == session_id_for(browser.cookies["sessionid"].value)
    assert voker.person(str(user.pk))["properties"]["username"] == "ada"
