"""System checks and settings validation."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from voker_django.conf import load

SESSION = "django.contrib.sessions.middleware.SessionMiddleware"
AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"
VOKER = "voker_django.middleware.VokerMiddleware"


def _voker_messages() -> list[Any]:
    return [m for m in checks.run_checks() if m.id and m.id.startswith("voker_django.")]


def test_project_settings_pass_the_checks() -> None:
    assert _voker_messages() == []


@override_settings(MIDDLEWARE=[VOKER, SESSION, AUTH])
def test_middleware_before_session_and_auth_is_reported() -> None:
    messages = _voker_messages()
    assert [m.id for m in messages] == ["voker_django.W002", "voker_django.W002"]
    assert all(isinstance(m, checks.Warning) for m in messages)
    assert SESSION in messages[0].msg
    assert AUTH in messages[1].msg


@override_settings(MIDDLEWARE=[SESSION, VOKER, AUTH])
def test_middleware_before_auth_only_is_reported() -> None:
    [message] = _voker_messages()
    assert message.id == "voker_django.W002"
    assert AUTH in message.msg and "Move" in message.hint


@override_settings(MIDDLEWARE=[SESSION, AUTH])
def test_missing_middleware_is_reported() -> None:
    [message] = _voker_messages()
    assert message.id == "voker_django.W001"


@override_settings(VOKER={"AGENTS": {"bot": {"versions": ["v1"]}}})
def test_bad_settings_are_an_error_naming_the_key() -> None:
    [message] = _voker_messages()
    assert message.id == "voker_django.E001"
    assert isinstance(message, checks.Error)
    assert "AGENTS" in message.msg and "versions" in message.msg


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ("not a dict", "settings.VOKER must be a dict"),
        ({"AGNET": "x"}, "AGNET"),
        ({"AGENT": ""}, "['AGENT']"),
        ({"AGENT_VERSION": "v1"}, "['AGENT_VERSION']"),
        ({"BASE_URL": "evals.voker.ai"}, "['BASE_URL']"),
        ({"SESSION_HEADER": "X Voker"}, "['SESSION_HEADER']"),
        ({"SESSION_ID": "no.such.module.function"}, "['SESSION_ID']"),
        ({"PERSON_ID": 42}, "['PERSON_ID']"),
        ({"CAPTURE_CONTENT": "maybe"}, "['CAPTURE_CONTENT']"),
        ({"AGENTS": ["bot"]}, "['AGENTS']"),
        ({"AGENTS": {"bot": {"description": 1}}}, "description"),
    ],
)
def test_bad_values_raise_improperly_configured_naming_the_key(raw: Any, names: str) -> None:
    with pytest.raises(ImproperlyConfigured) as excinfo:
        load(raw)
    assert names in str(excinfo.value)


def test_good_settings_are_read() -> None:
    settings = load(
        {
            "API_KEY": "k",
            "BASE_URL": "http://127.0.0.1:8787/",
            "AGENT": "bot",
            "AGENT_VERSION": "v1",
            "AGENTS": {"bot": {"description": "d", "versions": {"v1": None}}},
            "SESSION_HEADER": "X-Conversation",
            "SESSION_ID": "tests.django_tests.test_checks.session_id",
            "CAPTURE_CONTENT": "false",
        }
    )
    assert settings.base_url == "http://127.0.0.1:8787"
    assert settings.session_meta_key == "HTTP_X_CONVERSATION"
    assert settings.session_id is session_id
    assert settings.client_options == {
        "api_key": "k",
        "base_url": "http://127.0.0.1:8787",
        "capture_content": False,
    }
    [agent] = settings.agents
    assert (agent.name, agent.versions) == ("bot", (("v1", None),))


def session_id(request: Any) -> str:
    return "from-callable"


@pytest.mark.django_db
def test_middleware_without_the_app_refuses_to_load(voker: Any, llm: Any) -> None:
    # Without the app, settings.VOKER would be ignored and every event silently discarded.
    from django.conf import settings
    from django.test import Client

    apps_without_voker = [app for app in settings.INSTALLED_APPS if app != "voker_django"]
    with override_settings(INSTALLED_APPS=apps_without_voker):
        with pytest.raises(ImproperlyConfigured, match=r"INSTALLED_APPS") as raised:
            Client().get("/chat/", {"q": "hello"})
    assert '"voker_django"' in str(raised.value)
    assert voker.events() == []  # the view never ran


async def async_callable(arg: Any) -> str:
    return "never an id"


class AsyncCallableObject:
    async def __call__(self, arg: Any) -> str:
        return "never an id"


@pytest.mark.parametrize("key", ["SESSION_ID", "PERSON_ID", "PERSON_PROPERTIES"])
@pytest.mark.parametrize("value", [f"{__name__}.async_callable", AsyncCallableObject()])
def test_async_callables_are_refused_naming_the_setting(key: str, value: Any) -> None:
    # Called from synchronous code, an async def would give a coroutine whose repr became an id.
    with pytest.raises(ImproperlyConfigured, match=rf"settings.VOKER\['{key}'\] must be a synch"):
        load({key: value})
    with override_settings(VOKER={key: value}):
        [message] = _voker_messages()
    assert message.id == "voker_django.E001" and key in message.msg
