"""Async views under ASGI (Django's ``AsyncClient``): no ``SynchronousOnlyOperation``, the user
read with ``await request.auser()``, sessions created off the event loop's thread."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

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
    assert event["session"] == async_client.cookies["sessionid"].value
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
    assert {e["session"] for e in events} == {first.cookies["sessionid"].value}
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
    assert event["session"] == async_client.cookies["sessionid"].value


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
