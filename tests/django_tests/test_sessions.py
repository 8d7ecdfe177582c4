"""Which Voker session a request's LLM calls get (WSGI, Django test client)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from voker_django import session_id_for

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
    assert session_id_for(first.cookies["sessionid"].value) == alice_session
    assert by_question["alice 2"]["session"] == alice_session
    assert by_question["bob 1"]["session"] != alice_session
    assert by_question["bob 1"]["session"] == session_id_for(bob.cookies["sessionid"].value)


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
    assert event["session"] == session_id_for(session.session_key)


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


@pytest.mark.parametrize(
    "engine",
    ["django.contrib.sessions.backends.db", "django.contrib.sessions.backends.signed_cookies"],
)
def test_the_voker_session_is_not_the_session_cookie(
    engine: str, settings: Any, voker: Any, llm: Any, make_user: Any, default_voker_client: Any
) -> None:
    # Whoever reads Voker's data must not be able to log in as the site's users with it.
    settings.SESSION_ENGINE = engine
    user = make_user()
    browser = Client()
    assert (
        browser.post(
            "/login/",
            {"username": "ada", "password": "correct horse"},
            content_type="application/json",
        ).content
        == b"logged in"
    )
    browser.get("/chat/", {"q": "secret question"})
    browser.get("/chat/", {"q": "follow-up"})
    default_voker_client.flush(5)
    events = _llm_events(voker, 2)
    cookie = browser.cookies["sessionid"].value
    assert {e["session"] for e in events} == {session_id_for(cookie)}  # still one conversation
    assert [e["person"] for e in events] == [str(user.pk)] * 2
    assert all(cookie not in e["session"] for e in events)
    attacker = Client()
    attacker.cookies["sessionid"] = events[0]["session"]
    assert attacker.get("/whoami/").json() == {"user": None}


def test_session_id_for_is_stable_and_keyed_by_the_secret_key(settings: Any) -> None:
    first = session_id_for("abc")
    assert first == session_id_for("abc") != session_id_for("abd")
    settings.SECRET_KEY = "another-secret"
    assert session_id_for("abc") != first


@pytest.mark.parametrize("key", [None, ""])
def test_session_id_for_a_visitor_without_a_session_is_none(key: Any) -> None:
    # request.session.session_key of a first visit is None: no conversation, not one shared by
    # every such visitor (the hash of "None").
    assert session_id_for(key) is None


def test_a_rolled_back_transaction_around_the_first_llm_call_keeps_the_views_response(
    voker: Any, llm: Any, default_voker_client: Any
) -> None:
    from django.contrib.sessions.models import Session

    browser = Client()
    first = browser.get("/atomic-chat/", {"q": "first"})
    # The view's own response, not SessionMiddleware's 400 for a session rolled back with it.
    assert (first.status_code, first.json()) == (200, {"reply": None, "error": "please retry"})
    cookie = first.cookies["sessionid"].value
    assert Session.objects.filter(session_key=cookie).exists()
    second = browser.get("/atomic-chat/", {"q": "second"})
    assert second.status_code == 200
    default_voker_client.flush(5)
    events = _llm_events(voker, 2)
    assert [e["properties"]["inputs"]["messages"][0]["content"] for e in events] == [
        "first",
        "second",
    ]
    assert {e["session"] for e in events} == {session_id_for(cookie)}
    assert {(e["agent"], e["person"]) for e in events} == {("support-bot", None)}


def test_a_view_in_a_transaction_sees_and_saves_the_session_its_llm_call_created(
    voker: Any, llm: Any, default_voker_client: Any
) -> None:
    browser = Client()
    first = browser.get("/atomic-chat-then-save/", {"q": "first"})
    key = first.json()["session_key"]
    assert key is not None and first.cookies["sessionid"].value == key
    second = browser.get("/atomic-chat-then-save/", {"q": "second"})
    assert second.json()["session_key"] == key
    default_voker_client.flush(5)

    events = _llm_events(voker, 2)
    # One conversation, the one the view's own session_key names.
    assert {e["session"] for e in events} == {session_id_for(key)}
    assert browser.session["last_question"] == "second"


def test_two_new_browsers_with_signed_cookie_sessions_are_two_conversations(
    settings: Any, voker: Any, llm: Any, default_voker_client: Any
) -> None:
    # A signed-cookie session's key is its data, signed with a timestamp in seconds: two empty
    # sessions made in the same second would have one key, and so one Voker session.
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    ada, bob = Client(), Client()
    ada.get("/chat/", {"q": "ada here"})
    bob.get("/chat/", {"q": "bob here"})
    default_voker_client.flush(5)

    events = _llm_events(voker, 2)
    assert len({e["session"] for e in events}) == 2
    for browser, question in ((ada, "ada here"), (bob, "bob here")):
        session = session_id_for(browser.cookies["sessionid"].value)
        [event] = [e for e in events if e["session"] == session]
        assert event["properties"]["inputs"]["messages"][0]["content"] == question
