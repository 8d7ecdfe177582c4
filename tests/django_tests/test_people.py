"""The logged-in user as the Voker person (WSGI, Django test client)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client, override_settings

from voker_django import session_id_for

pytestmark = pytest.mark.django_db


def person_id_of(user: Any) -> str:
    return f"user-{user.username}"


def person_properties_of(user: Any) -> dict[str, Any]:
    return {"plan": "pro", "email": user.email, "password": user.password}


def test_logged_in_user_is_the_person_created_once_updated_once(
    client: Client, voker: Any, llm: Any, make_user: Any, default_voker_client: Any
) -> None:
    user = make_user("ada", first_name="Ada", last_name="Lovelace")
    client.force_login(user)

    assert client.get("/chat/", {"q": "q0"}).status_code == 200
    default_voker_client.flush(5)
    voker.wait_for_events(1, event_name="llm")
    after_first = voker.request_count()

    for i in range(1, 10):
        assert client.get("/chat/", {"q": f"q{i}"}).status_code == 200
    default_voker_client.flush(5)
    events = voker.wait_for_events(10, event_name="llm")
    assert {e["person"] for e in events} == {str(user.pk)}
    # Nine more requests, nine more events and nothing else: people.create was sent once.
    assert voker.request_count() == after_first + 9
    [person] = voker.people()
    assert person["person_id"] == str(user.pk)
    assert person["properties"] == {
        "username": "ada",
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
    }

    user.email = "ada@lovelace.org"
    user.save()
    client.get("/chat/", {"q": "after change"})
    client.get("/chat/", {"q": "after change 2"})
    default_voker_client.flush(5)
    voker.wait_for_events(12, event_name="llm")
    # Two events and one people.update.
    assert voker.request_count() == after_first + 9 + 3
    assert voker.person(str(user.pk))["properties"]["email"] == "ada@lovelace.org"


def test_no_password_hash_in_any_stored_payload(
    client: Client, voker: Any, llm: Any, make_user: Any, default_voker_client: Any
) -> None:
    user = make_user()
    client.force_login(user)
    client.get("/chat/", {"q": "secret?"})
    client.get("/feedback/")
    default_voker_client.flush(5)
    voker.wait_for_events(2)
    stored = json.dumps([voker.events(), voker.people(), voker.sessions()])
    assert user.password.startswith("md5$")
    assert user.password not in stored
    assert '"password"' not in stored


def test_anonymous_visitor_has_a_session_and_no_person(
    client: Client, voker: Any, llm: Any, default_voker_client: Any
) -> None:
    client.get("/chat/", {"q": "anon"})
    default_voker_client.flush(5)
    [event] = voker.wait_for_events(1, event_name="llm")
    assert event["person"] is None
    assert event["session"] == session_id_for(client.cookies["sessionid"].value)
    assert voker.people() == []


@override_settings(
    VOKER={
        "AGENT": "support-bot",
        "PERSON_ID": "tests.django_tests.test_people.person_id_of",
        "PERSON_PROPERTIES": person_properties_of,
    }
)
def test_person_id_and_properties_from_settings(
    client: Client, voker: Any, llm: Any, make_user: Any, default_voker_client: Any
) -> None:
    user = make_user("grace")
    client.force_login(user)
    client.get("/chat/", {"q": "hi"})
    default_voker_client.flush(5)
    [event] = voker.wait_for_events(1, event_name="llm")
    assert event["person"] == "user-grace"
    assert event["agent_version"] != "v1"  # the override has no AGENT_VERSION: the default one
    # The password hash the callable returned was dropped.
    assert voker.person("user-grace")["properties"] == {
        "plan": "pro",
        "email": "grace@example.com",
    }


def test_logging_in_during_the_request_is_seen(
    client: Client, voker: Any, llm: Any, make_user: Any, default_voker_client: Any
) -> None:
    user = make_user("linus")
    response = client.post(
        "/login/",
        data=json.dumps({"username": "linus", "password": "correct horse"}),
        content_type="application/json",
    )
    assert response.status_code == 200
    client.get("/chat/", {"q": "now logged in"})
    default_voker_client.flush(5)
    [event] = voker.wait_for_events(1, event_name="llm")
    assert event["person"] == str(user.pk)
    assert event["session"] == session_id_for(client.cookies["sessionid"].value)


def failing_person_properties(user: Any) -> dict[str, Any]:
    raise RuntimeError("profile service down")


def test_failing_person_properties_keeps_the_person(
    client: Client,
    voker: Any,
    llm: Any,
    make_user: Any,
    default_voker_client: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = make_user()
    client.force_login(user)
    voker_settings = {
        "AGENT": "support-bot",
        "PERSON_PROPERTIES": f"{__name__}.failing_person_properties",
    }
    with override_settings(VOKER=voker_settings), caplog.at_level("WARNING", logger="voker"):
        assert client.get("/chat/", {"q": "hi"}).status_code == 200
    default_voker_client.flush(5)
    [event] = voker.wait_for_events(1, event_name="llm")
    assert (event["person"], event["agent"]) == (str(user.pk), "support-bot")
    [person] = voker.people()
    assert person["person_id"] == str(user.pk)
    assert not person["properties"]
    assert any("PERSON_PROPERTIES" in r.getMessage() for r in caplog.records)


async def _async_person_id(user: Any) -> str:
    return "never-an-id"


def person_id_returning_a_coroutine(user: Any) -> Any:
    return _async_person_id(user)


def test_a_coroutine_returned_by_person_id_is_never_recorded_as_an_id(
    client: Client, voker: Any, llm: Any, make_user: Any, default_voker_client: Any
) -> None:
    client.force_login(make_user())
    voker_settings = {"AGENT": "support-bot", "PERSON_ID": person_id_returning_a_coroutine}
    with override_settings(VOKER=voker_settings):
        assert client.get("/chat/", {"q": "hi"}).status_code == 200
    default_voker_client.flush(5)
    [event] = voker.wait_for_events(1, event_name="llm")
    assert (event["person"], event["agent"]) == (None, "support-bot")
    assert voker.people() == []
