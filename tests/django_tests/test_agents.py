"""The agent of a request: the settings' default, or the ``voker_django.agent`` decorator's."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.core.cache import cache
from django.test import AsyncClient, Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("path", "agent", "version"),
    [
        ("/billing/", "billing-bot", "v2"),
        ("/search/", "search-bot", "s1"),
        ("/deep-search/", "deep-search-bot", None),
    ],
)
def test_decorator_agent_beats_the_default_for_that_view_only(
    client: Client,
    voker: Any,
    llm: Any,
    default_voker_client: Any,
    path: str,
    agent: str,
    version: str | None,
) -> None:
    headers = {"X-Voker-Session": "s"}
    assert client.get(path, {"q": "decorated"}, headers=headers).status_code == 200
    assert client.get("/chat/", {"q": "plain"}, headers=headers).status_code == 200
    default_voker_client.flush(5)
    [decorated] = voker.wait_for_events(1, event_name="llm", agent=agent)
    [plain] = voker.wait_for_events(1, event_name="llm", agent="support-bot")
    assert decorated["properties"]["inputs"]["messages"][0]["content"] == "decorated"
    # No version: the agent's default version, never the settings' version of another agent.
    assert decorated["agent_version"] == (version or "default")
    assert plain["properties"]["inputs"]["messages"][0]["content"] == "plain"
    assert plain["agent_version"] == "v1"


def test_context_is_scoped_to_the_view(client: Client, voker: Any) -> None:
    assert client.get("/current/").json() == {"agent": "support-bot", "agent_version": "v1"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("path", "agent"), [("/abilling/", "billing-bot"), ("/asearch/", "async-search-bot")]
)
async def test_decorator_on_async_views(
    async_client: AsyncClient,
    voker: Any,
    llm: Any,
    default_voker_client: Any,
    path: str,
    agent: str,
) -> None:
    response = await async_client.get(
        path, {"q": "async decorated"}, headers={"X-Voker-Session": "a"}
    )
    assert response.status_code == 200
    await async_client.get("/achat/", {"q": "async plain"}, headers={"X-Voker-Session": "a"})
    default_voker_client.flush(5)
    [decorated] = voker.wait_for_events(1, event_name="llm", agent=agent)
    assert decorated["agent_version"] == "default"
    assert decorated["session"] == "a"
    [plain] = voker.wait_for_events(1, event_name="llm", agent="support-bot")
    assert plain["properties"]["inputs"]["messages"][0]["content"] == "async plain"


# --- TemplateResponses are rendered after the view returned: still inside its agent ---


@pytest.mark.parametrize(
    ("path", "agent", "version"),
    [
        ("/summary/", "billing-bot", "default"),
        ("/summary-class/", "search-bot", "s1"),
        ("/summary-cached/", "billing-bot", "default"),
    ],
)
def test_llm_call_while_the_template_renders_keeps_the_views_agent(
    client: Client,
    voker: Any,
    llm: Any,
    default_voker_client: Any,
    path: str,
    agent: str,
    version: str,
) -> None:
    cache.clear()
    response = client.get(path, {"q": "summarise"}, headers={"X-Voker-Session": "t"})
    assert response.content == b"<p>Echo: summarise</p>"
    assert "render" not in vars(response)  # nothing of the wrapper left on the response
    default_voker_client.flush(5)
    [event] = voker.wait_for_events(1, event_name="llm")
    assert (event["agent"], event["agent_version"], event["session"]) == (agent, version, "t")


def test_a_cached_template_response_is_served_from_the_cache(
    client: Client, voker: Any, llm: Any, default_voker_client: Any
) -> None:
    # The cache middleware pickled the rendered response: the second request calls no model.
    cache.clear()
    for _ in range(2):
        response = client.get("/summary-cached/", {"q": "once"}, headers={"X-Voker-Session": "c"})
        assert response.content == b"<p>Echo: once</p>"
    default_voker_client.flush(5)
    [event] = voker.wait_for_events(1, event_name="llm")
    assert event["agent"] == "billing-bot"


@pytest.mark.django_db(transaction=True)
async def test_llm_call_while_an_async_views_template_renders_keeps_its_agent(
    async_client: AsyncClient, voker: Any, llm: Any, default_voker_client: Any
) -> None:
    response = await async_client.get(
        "/asummary/", {"q": "async summary"}, headers={"X-Voker-Session": "at"}
    )
    assert response.content == b"<p>Echo: async summary</p>"
    await asyncio.to_thread(default_voker_client.flush, 5)
    [event] = await asyncio.to_thread(voker.wait_for_events, 1, event_name="llm")
    assert (event["agent"], event["session"]) == ("billing-bot", "at")
