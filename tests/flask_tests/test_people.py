"""Who a request's LLM calls are for: Flask-Login's user, a person_loader, or nobody."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import flask_login
import pytest
from flask import Flask, request

import voker_core
from voker_flask import Voker
from voker_flask.people import normalize_person

from .conftest import ask


@dataclass
class User(flask_login.UserMixin):  # type: ignore[misc]
    id: int
    username: str
    email: str
    password_hash: str = "pbkdf2:sha256$never-sent"


def make_login_app(llm: Any, users: dict[str, User], loads: list[str]) -> Flask:
    app = Flask("login")
    app.config.update(SECRET_KEY="secret", VOKER_AGENT="support-bot")
    manager = flask_login.LoginManager(app)

    @manager.user_loader
    def load_user(user_id: str) -> User | None:
        loads.append(user_id)
        return users.get(user_id)

    Voker(app)

    @app.post("/login/<user_id>")
    def login(user_id: str) -> str:
        flask_login.login_user(users[user_id])
        return "ok"

    @app.post("/chat")
    def chat() -> str:
        return ask(llm, "hi")

    @app.get("/health")
    def health() -> str:
        return "ok"

    return app


def test_flask_login_user_becomes_the_person_with_properties_created_once(
    default_voker_client: Any, voker_server: Any, llm: Any
) -> None:
    users = {"1": User(1, "ada", "ada@example.com")}
    loads: list[str] = []
    app = make_login_app(llm, users, loads)
    client = app.test_client()
    client.post("/login/1")
    # Warm the client up (its fingerprint) so that only what the requests cause is counted.
    default_voker_client.events.create(event_name="warm-up", properties={}, session="warm-up")
    assert default_voker_client.flush(5)
    before = voker_server.request_count()

    for _ in range(3):
        assert client.post("/chat").status_code == 200
    assert default_voker_client.flush(5)

    events = voker_server.events(event_name="llm")
    assert [e["person"] for e in events] == ["1", "1", "1"]
    person = voker_server.person("1")
    assert person is not None
    assert person["properties"] == {"username": "ada", "email": "ada@example.com"}
    # Exactly three events and one people.create reached Voker: the person is not re-sent.
    assert voker_server.request_count() - before == 3 + 2

    # A change of the user's properties is sent once, as an update.
    users["1"].email = "ada@lovelace.org"
    client.post("/chat")
    client.post("/chat")
    assert default_voker_client.flush(5)
    assert voker_server.person("1")["properties"]["email"] == "ada@lovelace.org"
    assert voker_server.request_count() - before == 3 + 2 + 2 + 1


def test_the_user_is_not_loaded_for_requests_that_record_nothing(
    default_voker_client: Any, voker_server: Any, llm: Any
) -> None:
    users = {"1": User(1, "ada", "ada@example.com")}
    loads: list[str] = []
    app = make_login_app(llm, users, loads)
    client = app.test_client()
    client.post("/login/1")
    loads.clear()

    assert client.get("/health").status_code == 200
    assert loads == []  # lazy: no LLM call, no user lookup
    client.post("/chat")
    assert loads == ["1"]
    assert default_voker_client.flush(5)
    assert voker_server.people()[0]["person_id"] == "1"


def test_anonymous_user_means_no_person(
    default_voker_client: Any, voker_server: Any, llm: Any
) -> None:
    app = make_login_app(llm, {}, [])
    assert app.test_client().post("/chat").status_code == 200
    assert default_voker_client.flush(5)
    [event] = voker_server.events(event_name="llm")
    assert event["person"] is None
    assert voker_server.people() == []


def test_person_loader_without_flask_login(
    default_voker_client: Any, voker_server: Any, llm: Any
) -> None:
    app = Flask("loader")
    app.config.update(SECRET_KEY="secret", VOKER_AGENT="support-bot")
    voker = Voker(app)

    @voker.person_loader
    def current_person() -> Any:
        user = request.headers.get("X-User")
        if user is None:
            return None
        if user.startswith("plain-"):
            return user  # just an id
        return user, {"plan": "pro", "seats": 3}

    @app.post("/chat")
    def chat() -> str:
        return ask(llm, "hi")

    client = app.test_client()
    client.post("/chat", headers={"X-User": "u-7"})
    client.post("/chat", headers={"X-User": "plain-8"})
    client.post("/chat")
    assert default_voker_client.flush(5)

    assert [e["person"] for e in voker_server.events(event_name="llm")] == [
        "u-7",
        "plain-8",
        None,
    ]
    assert voker_server.person("u-7")["properties"] == {"plan": "pro", "seats": 3}
    assert voker_server.person("plain-8")["properties"] == {}


def test_person_ids_are_strings_ints_or_uuids() -> None:
    person_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert normalize_person(person_id) == (str(person_id), None)
    assert normalize_person((person_id, {"email": "a@b.c"})) == (
        "12345678-1234-5678-1234-567812345678",
        {"email": "a@b.c"},
    )
    assert normalize_person(7) == ("7", None)
    assert normalize_person(("u-1", None)) == ("u-1", None)
    assert normalize_person(None) is None
    assert normalize_person((None, {"a": 1})) is None
    assert normalize_person("  ") is None


@pytest.mark.parametrize(
    "result",
    [
        True,
        {"id": 1},
        ("a", "b", "c"),
        (["a"], {}),
        ({"a"}, None),
        b"u-1",
        (False, {}),
        1.5,
        User(1, "ada", "ada@example.com"),
        flask_login.AnonymousUserMixin(),
        object(),
    ],
    ids=[
        "bool",
        "mapping",
        "three-items",
        "list-id",
        "set-id",
        "bytes",
        "bool-id",
        "float",
        "user-object",
        "anonymous-user",
        "object",
    ],
)
def test_values_that_are_not_ids_mean_no_person(
    result: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert normalize_person(result) is None
    assert "voker: " in caplog.text


def test_person_loader_returning_a_uuid_primary_key(
    default_voker_client: Any, voker_server: Any, llm: Any
) -> None:
    app = Flask("uuid_person")
    app.config.update(SECRET_KEY="secret", VOKER_AGENT="support-bot")
    voker = Voker(app)
    user_id = uuid.UUID("12345678-1234-5678-1234-567812345678")

    @voker.person_loader
    def person() -> tuple[uuid.UUID, dict[str, str]]:
        return user_id, {"email": "a@b.c"}

    @app.post("/chat")
    def chat() -> str:
        return ask(llm, "hi")

    assert app.test_client().post("/chat").status_code == 200
    assert default_voker_client.flush(5)
    [event] = voker_server.events(event_name="llm")
    assert event["person"] == str(user_id)
    assert voker_server.person(str(user_id))["properties"] == {"email": "a@b.c"}


def test_person_loader_beats_flask_login(
    default_voker_client: Any, voker_server: Any, llm: Any
) -> None:
    users = {"1": User(1, "ada", "ada@example.com")}
    app = make_login_app(llm, users, [])
    voker = app.extensions["voker"].extension

    @voker.person_loader
    def tenant_person() -> tuple[str, dict[str, Any]]:
        return f"tenant-a/{flask_login.current_user.get_id()}", {"tenant": "a"}

    client = app.test_client()
    client.post("/login/1")
    client.post("/chat")
    assert default_voker_client.flush(5)
    [event] = voker_server.events(event_name="llm")
    assert event["person"] == "tenant-a/1"  # ids with "/" survive the round trip
    assert voker_server.person("tenant-a/1")["properties"] == {"tenant": "a"}


def test_a_broken_person_loader_never_breaks_the_request(
    default_voker_client: Any, voker_server: Any, llm: Any
) -> None:
    app = Flask("broken")
    app.config.update(SECRET_KEY="secret", VOKER_AGENT="support-bot")
    voker = Voker(app)

    @voker.person_loader
    def broken() -> Any:
        raise LookupError("database is down")

    @app.post("/chat")
    def chat() -> str:
        return ask(llm, "hi")

    response = app.test_client().post("/chat")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "Echo: hi"
    assert default_voker_client.flush(5)
    [event] = voker_server.events(event_name="llm")
    assert event["person"] is None


def test_a_loader_returning_current_user_by_mistake_records_no_person(
    default_voker_client: Any, voker_server: Any, llm: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """``return current_user`` instead of ``current_user.get_id()``: logged, never a junk id
    like ``<AnonymousUserMixin object at 0x...>`` (a new person per request)."""
    users = {"1": User(1, "ada", "ada@example.com")}
    app = make_login_app(llm, users, [])
    voker = app.extensions["voker"].extension

    @voker.person_loader
    def person() -> Any:
        return flask_login.current_user._get_current_object()

    anonymous, member = app.test_client(), app.test_client()
    member.post("/login/1")
    for client in (anonymous, member):
        assert client.post("/chat").get_data(as_text=True) == "Echo: hi"
    assert default_voker_client.flush(5)
    assert [e["person"] for e in voker_server.events(event_name="llm")] == [None, None]
    assert "current_user.get_id()" in caplog.text


def test_async_person_loader_is_used_by_sync_code_inside_an_async_view(
    default_voker_client: Any, voker_server: Any, llm: Any, make_async_llm: Any
) -> None:
    # A sync client, or a custom event, inside an async view reads the person synchronously
    # on the view's event loop: the async loader must still give it.
    app = Flask("async-loader")
    app.config.update(SECRET_KEY="secret", VOKER_AGENT="support-bot")
    voker = Voker(app)

    @voker.person_loader
    async def person() -> tuple[str, dict[str, Any]]:
        return "ada", {"plan": "pro"}

    @app.get("/sync-client-in-async-view")
    async def sync_client_in_async_view() -> str:
        return ask(llm, "sync in async")

    @app.get("/custom-event-in-async-view")
    async def custom_event_in_async_view() -> str:
        voker_core.get_client().events.create(event_name="thumbs_up", properties={})
        return "ok"

    client = app.test_client()
    headers = {"X-Voker-Session": "s-1"}
    assert client.get("/sync-client-in-async-view", headers=headers).status_code == 200
    assert client.get("/custom-event-in-async-view", headers=headers).status_code == 200
    default_voker_client.flush(5)
    events = voker_server.wait_for_events(2, session="s-1")
    assert [(e["event_name"], e["person"], e["agent"]) for e in events] == [
        ("llm", "ada", "support-bot"),
        ("thumbs_up", "ada", "support-bot"),
    ]
    assert voker_server.person("ada")["properties"] == {"plan": "pro"}
