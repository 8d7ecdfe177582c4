"""Which Voker session a request's LLM calls get (WSGI, Django test client)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _llm_events(voker: Any, count: int, **filters: Any) -> list[dict[str, Any]]:
    return voker.wait_for_events(count, event_name="llm", **filters)


def test_header_session_wins_over_the_django_session(
    client: Client, voker: Any, llm: Any, default_voker_client: Any
) -> None:
    client.get("/nothing/")  # whatever the browser had, the header decides
    response = client.get("/chat/", {"q": "with header"}, headers={"X-Voker-Session": "conv-42"})
    assert response.status_code == 200
    default_voker_client.flush(5)
    [event] = _llm_events(voker, 1)
    assert event["session"] == "conv-42"
    assert event["agent"] == "support-bot"
    assert event["agent_version"] == "v1"
    assert event["properties"]["output"]["choices"][0]["message"]["content"] == (
        "Echo: with header"
    )
    # The header made the Django session unnecessary: no cookie was created for it.
    assert "sessionid" not in response.cookies


def test_session_key_is_stable_per_browser_and_differs_between_browsers(
    voker: Any, llm: Any, default_voker_client: Any
) -> None:
    alice, bob = Client(), Client()
    first = alice.get("/chat/", {"q": "alice 1"})
    alice.get("/chat/", {"q": "alice 2"})
    bob.get("/chat/", {"q": "bob 1"})
    default_voker_client.flush(5)
    events = _llm_events(voker, 3)
    by_question = {e["properties"]["inputs"]["messages"][0]["content"]: e for e in events}
    alice_session = by_question["alice 1"]["session"]
    # The session was created for the first event and its cookie sent with that response.
    assert first.cookies["sessionid"].value == alice_session
    assert by_question["alice 2"]["session"] == alice_session
    assert by_question["bob 1"]["session"] != alice_session
    assert by_question["bob 1"]["session"] == bob.cookies["sessionid"].value


def test_existing_session_cookie_is_used(
    client: Client, voker: Any, llm: Any, default_voker_client: Any
) -> None:
    session = client.session  # an existing Django session (saved, with its cookie)
    session["cart"] = ["book"]
    session.save()
    client.cookies["sessionid"] = session.session_key
    client.get("/chat/", {"q": "cart"})
    default_voker_client.flush(5)
    [event] = _llm_events(voker, 1)
    assert event["session"] == session.session_key


def test_request_without_llm_call_adds_no_query_and_no_cookie(
    client: Client, voker: Any, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(0):
        response = client.get("/nothing/")
    assert response.status_code == 200
    assert "sessionid" not in response.cookies


def test_request_without_llm_call_adds_no_query_for_a_logged_in_user(
    client: Client, voker: Any, make_user: Any, django_assert_num_queries: Any
) -> None:
    client.force_login(make_user())
    with django_assert_num_queries(0):
        assert client.get("/nothing/").status_code == 200
    assert voker.people() == []


def test_custom_event_in_a_view_needs_only_a_name(
    client: Client, voker: Any, make_user: Any, default_voker_client: Any
) -> None:
    user = make_user()
    client.force_login(user)
    client.get("/feedback/", headers={"X-Voker-Session": "conv-7"})
    default_voker_client.flush(5)
    [event] = voker.wait_for_events(1, event_name="feedback")
    assert (event["session"], event["person"], event["agent"]) == (
        "conv-7",
        str(user.pk),
        "support-bot",
    )
    assert event["properties"] == {"score": 1}
