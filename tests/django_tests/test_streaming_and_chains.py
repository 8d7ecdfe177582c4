"""LLM calls made while a streamed body is produced, and LangChain runnables in views."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import AsyncClient, Client

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
        client.cookies["sessionid"].value,
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
    assert {e["session"] for e in events} == {first.cookies["sessionid"].value}


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
    assert event["session"] == response.cookies["sessionid"].value
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
        client.cookies["sessionid"].value,
        str(user.pk),
        "support-bot",
        "v1",
    )
