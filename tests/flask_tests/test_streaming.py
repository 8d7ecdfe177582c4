"""Streamed responses: the body (produced after teardown) still records in the request's context.

The usual streaming-chat view returns ``Response(generate())`` and makes its streamed LLM call
inside ``generate``, which the server runs after Flask has left the request. Views that declare
it (``@voker.streams_llm``, ``@voker.agent``) get their session cookie and person before the
headers leave; other streamed responses stay lazy, and the request is never re-entered.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
import requests
from flask import Blueprint, Flask, Response, g, request, send_file, stream_with_context
from flask.sessions import SessionInterface, SessionMixin
from flask.views import MethodView
from werkzeug.datastructures import CallbackDict

import voker_core
from voker_flask import Voker
from voker_flask.sessions import FLASK_SESSION_KEY

from .conftest import MODEL

EMPTY = voker_core.current_context()


def chat_chunks(llm: Any, text: str) -> Iterator[str]:
    """A streamed chat completion through the wrapped OpenAI client, as text chunks."""
    stream = llm.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": text}], stream=True
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            yield chunk.choices[0].delta.content


def make_streaming_app(
    llm: Any, *, with_context: bool = False, declared: bool = True, name: str = "streaming"
) -> tuple[Flask, Voker]:
    """An app with a streaming chat view at ``/chat``, declared with ``@voker.streams_llm``
    unless ``declared`` is false (optionally under Flask's ``stream_with_context``)."""
    app = Flask(name)
    app.config.update(SECRET_KEY="secret", VOKER_AGENT="support-bot")
    voker = Voker(app)

    def chat() -> Response:
        text = request.get_json()["text"]

        def generate() -> Iterator[str]:
            yield "reply: "
            yield from chat_chunks(llm, text)

        body = stream_with_context(generate()) if with_context else generate()
        return Response(body, mimetype="text/plain")

    app.post("/chat")(voker.streams_llm(chat) if declared else chat)
    return app, voker


@pytest.mark.parametrize("with_context", [False, True], ids=["plain", "stream_with_context"])
def test_declared_streamed_chat_records_once_with_header_session_agent_and_person(
    default_voker_client: Any, voker_server: Any, llm: Any, with_context: bool
) -> None:
    app, voker = make_streaming_app(llm, with_context=with_context)
    loads: list[str] = []

    @app.before_request
    def load_user() -> None:
        g.user = request.headers.get("X-User")

    @voker.person_loader
    def person() -> tuple[str, dict[str, Any]] | None:
        # Reads g and request: resolved before the body runs, while the request is live.
        loads.append(g.user)
        return (g.user, {"via": request.headers["X-User"]}) if g.user else None

    response = app.test_client().post(
        "/chat", json={"text": "hi"}, headers={"X-Voker-Session": "conv-1", "X-User": "u-1"}
    )
    assert response.get_data(as_text=True) == "reply: Echo: hi"
    assert "Set-Cookie" not in response.headers  # the header carries the session
    assert voker_core.current_context() == EMPTY
    assert default_voker_client.flush(5)

    [event] = voker_server.events(event_name="llm")
    assert (event["session"], event["agent"], event["person"]) == ("conv-1", "support-bot", "u-1")
    assert event["properties"]["stream"] is True
    assert loads == ["u-1"]  # once
    assert voker_server.person("u-1")["properties"] == {"via": "u-1"}


@pytest.mark.parametrize("buffered", [False, True], ids=["streamed", "buffered"])
def test_a_stream_with_context_body_read_inside_with_client(
    default_voker_client: Any, voker_server: Any, llm: Any, buffered: bool
) -> None:
    # The test client keeps the request context to the end of the block, pairing Flask's
    # context tokens across the body's steps and its own code: the steps must run in its context.
    app, _ = make_streaming_app(llm, with_context=True)
    client = app.test_client()
    with client:
        response = client.post(
            "/chat",
            json={"text": "hi"},
            headers={"X-Voker-Session": "conv-kept"},
            buffered=buffered,
        )
        assert request.path == "/chat"  # the request context was kept for the test
        assert response.get_data(as_text=True) == "reply: Echo: hi"
    assert voker_core.current_context() == EMPTY
    assert default_voker_client.flush(5)
    [event] = voker_server.events(event_name="llm")
    assert (event["session"], event["agent"]) == ("conv-kept", "support-bot")


@pytest.mark.parametrize("with_context", [False, True], ids=["plain", "stream_with_context"])
def test_cookie_session_is_kept_across_streamed_chats(
    default_voker_client: Any, voker_server: Any, llm: Any, with_context: bool
) -> None:
    app, _ = make_streaming_app(llm, with_context=with_context)
    browser = app.test_client()

    first = browser.post("/chat", json={"text": "one"})
    assert first.get_data(as_text=True) == "reply: Echo: one"
    # The id was put into Flask's session before the headers left, so the cookie carries it.
    assert "Set-Cookie" in first.headers
    with browser.session_transaction() as flask_session:
        kept = flask_session[FLASK_SESSION_KEY]
    second = browser.post("/chat", json={"text": "two"})
    assert second.get_data(as_text=True) == "reply: Echo: two"
    assert default_voker_client.flush(5)

    events = voker_server.events(event_name="llm")
    assert len(events) == 2
    assert {e["session"] for e in events} == {kept}

    # Another browser is another conversation.
    app.test_client().post("/chat", json={"text": "three"}).get_data()
    assert default_voker_client.flush(5)
    [other] = [e for e in voker_server.events(event_name="llm") if e["session"] != kept]
    assert other["properties"]["inputs"]["messages"][0]["content"] == "three"


def test_streamed_bodies_keep_view_class_and_blueprint_agents(
    default_voker_client: Any, voker_server: Any, llm: Any
) -> None:
    app = Flask("agents")
    app.config.update(SECRET_KEY="secret", VOKER_AGENT="app-bot")
    voker = Voker(app)
    seen: dict[str, tuple[str | None, str | None]] = {}

    def stream(label: str) -> Response:
        def generate() -> Iterator[str]:
            ctx = voker_core.current_context()
            seen[label] = (ctx.agent, ctx.agent_version)
            yield from chat_chunks(llm, label)

        return Response(generate(), mimetype="text/plain")

    @app.post("/app")
    def app_default() -> Response:
        return stream("app")

    @app.post("/view")
    @voker.agent("view-bot", version="v2")
    def view() -> Response:
        return stream("view")

    @voker.agent("class-bot")
    class Chat(MethodView):
        def post(self) -> Response:
            return stream(request.path.strip("/"))

    @voker.agent("child-bot")
    class ChildChat(Chat):
        pass

    app.add_url_rule("/class", view_func=Chat.as_view("class"))
    app.add_url_rule("/child", view_func=ChildChat.as_view("child"))

    billing = voker.agent("billing-bot", version="b1")(Blueprint("billing", __name__))

    @billing.post("/bp")
    def in_blueprint() -> Response:
        return stream("bp")

    @billing.post("/bp-view")
    @voker.agent("refund-bot")
    def refund() -> Response:
        return stream("bp-view")

    app.register_blueprint(billing, url_prefix="/billing")

    client = app.test_client()
    for path in ["/app", "/view", "/class", "/child", "/billing/bp", "/billing/bp-view"]:
        response = client.post(path, headers={"X-Voker-Session": f"s{path}"})
        assert response.status_code == 200, path
        assert response.get_data(as_text=True).startswith("Echo: "), path
    assert voker_core.current_context() == EMPTY

    expected = {
        "app": ("app-bot", None),
        "view": ("view-bot", "v2"),
        "class": ("class-bot", None),
        "child": ("child-bot", None),  # the subclass's own choice wins
        "bp": ("billing-bot", "b1"),
        "bp-view": ("refund-bot", None),  # a view's choice beats its blueprint's
    }
    assert seen == expected
    assert default_voker_client.flush(5)
    events = voker_server.events(event_name="llm")
    assert len(events) == len(expected)
    by_prompt = {e["properties"]["inputs"]["messages"][0]["content"]: e for e in events}
    for label, (agent, _) in expected.items():
        assert by_prompt[label]["agent"] == agent, label


def test_body_context_never_leaks_between_steps_and_close_reaches_the_generator(
    default_voker_client: Any, voker_server: Any, llm: Any
) -> None:
    app, _ = make_streaming_app(llm, name="steps")
    events: list[tuple[str, Any]] = []

    @app.get("/numbers")
    def numbers() -> Response:
        def generate() -> Iterator[str]:
            try:
                for number in range(3):
                    events.append(("step", voker_core.current_context().session))
                    yield f"{number}\n"
            finally:
                events.append(("finally", voker_core.current_context().session))

        return Response(generate(), mimetype="text/plain")

    closed: list[str] = []

    class Chunks:
        def __iter__(self) -> Iterator[bytes]:
            return iter([b"never read"])

        def close(self) -> None:
            closed.append(voker_core.current_context().session or "")

    @app.get("/chunks")
    def chunks() -> Response:
        return Response(Chunks(), mimetype="text/plain")

    client = app.test_client()

    # Read step by step, as a server would: the context is there inside each step only.
    response = client.get("/numbers", headers={"X-Voker-Session": "s-1"}, buffered=False)
    assert voker_core.current_context() == EMPTY
    body = iter(response.response)
    assert next(body) == b"0\n"
    assert voker_core.current_context() == EMPTY
    assert next(body) == b"1\n"
    assert voker_core.current_context() == EMPTY
    response.close()  # the client went away: the original generator is closed, in context
    assert voker_core.current_context() == EMPTY
    assert events == [("step", "s-1"), ("step", "s-1"), ("finally", "s-1")]

    # Closed without ever being iterated (e.g. a HEAD request): the original is closed too.
    unread = client.get("/chunks", headers={"X-Voker-Session": "s-2"}, buffered=False)
    unread.close()
    assert closed == ["s-2"]
    head = client.head("/chunks", headers={"X-Voker-Session": "s-3"})
    assert (head.status_code, head.get_data()) == (200, b"")
    head.close()
    assert closed == ["s-2", "s-3"]


def test_other_responses_are_left_alone_and_set_no_cookie(
    tmp_path: Any, llm: Any, fake_llm: Any
) -> None:
    app, voker = make_streaming_app(llm, name="others")
    report = tmp_path / "report.txt"
    report.write_text("file body")
    loads: list[str] = []

    @voker.person_loader
    def person() -> str:
        loads.append(request.path)
        return "u-1"

    @app.get("/file")
    def file() -> Response:
        return send_file(report)

    @app.get("/plain")
    def plain() -> str:
        return "plain"

    @app.get("/export")
    def export() -> Response:
        return Response(iter(["a,b\n", "1,2\n"]), mimetype="text/csv")

    @app.get("/events")
    @voker.streams_llm
    def events() -> Response:
        return Response(chat_chunks(llm, "head"), mimetype="text/event-stream")

    client = app.test_client(use_cookies=False)  # a first-time visitor on every request
    for path, body in [("/file", b"file body"), ("/plain", b"plain"), ("/export", b"a,b\n1,2\n")]:
        response = client.get(path)
        assert response.get_data() == body, path
        assert "Set-Cookie" not in response.headers, path  # not even for a streamed export
        assert "Vary" not in response.headers, path  # the session was not even read
        head = client.head(path)
        assert (head.status_code, head.get_data()) == (200, b""), path
        assert "Set-Cookie" not in head.headers, path
    # A declared view answering HEAD: no body will run, so nothing is resolved.
    head = client.head("/events")
    assert (head.status_code, head.get_data()) == (200, b"")
    assert "Set-Cookie" not in head.headers
    assert loads == []
    assert fake_llm.requests == []


class _StoredSession(CallbackDict[str, Any], SessionMixin):
    def __init__(self, sid: str, data: dict[str, Any] | None = None) -> None:
        def changed(_: Any) -> None:
            self.modified = True

        super().__init__(data, changed)
        self.sid = sid
        self.modified = False


class ServerSideSessions(SessionInterface):
    """A server-side session store (what Flask-Session does): a new session costs a write."""

    def __init__(self) -> None:
        self.store: dict[str, dict[str, Any]] = {}
        self.writes = 0

    def open_session(self, app: Flask, request: Any) -> _StoredSession:
        sid = request.cookies.get("sid")
        if sid and sid in self.store:
            return _StoredSession(sid, dict(self.store[sid]))
        return _StoredSession(f"sid-{len(self.store) + self.writes}")

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, _StoredSession)
        if not session.modified:
            return
        self.writes += 1
        self.store[session.sid] = dict(session)
        response.set_cookie("sid", session.sid)


def test_server_side_sessions_are_written_early_for_declared_views_only(
    default_voker_client: Any, voker_server: Any, llm: Any
) -> None:
    app, _ = make_streaming_app(llm, name="server_side")
    sessions = ServerSideSessions()
    app.session_interface = sessions

    @app.get("/export")
    def export() -> Response:
        return Response(iter(["a,b\n"]), mimetype="text/csv")

    visitor = app.test_client()
    assert visitor.get("/export").get_data() == b"a,b\n"
    assert sessions.writes == 0  # a first-time visitor's download creates no stored session

    assert visitor.post("/chat", json={"text": "one"}).get_data() == b"reply: Echo: one"
    assert sessions.writes == 1  # a declared chat creates it before the headers leave
    visitor.post("/chat", json={"text": "two"}).get_data()
    assert default_voker_client.flush(5)
    events = voker_server.events(event_name="llm")
    [sid] = sessions.store
    assert [e["session"] for e in events] == [sessions.store[sid][FLASK_SESSION_KEY]] * 2


def serve_chat(threaded_server: Any, app: Flask) -> Callable[..., str]:
    """``chat(http, path, text, **headers)``: one streamed chat through a real server."""
    base_url: str = threaded_server(app)

    def chat(http: requests.Session, path: str, text: str, **headers: str) -> str:
        with http.post(
            f"{base_url}{path}", json={"text": text}, headers=headers, stream=True, timeout=10
        ) as response:
            response.raise_for_status()
            return "".join(response.iter_content(decode_unicode=True))

    return chat


def test_declared_streamed_chat_under_a_real_server_keeps_one_session_per_browser(
    default_voker_client: Any, voker_server: Any, fake_llm: Any, llm: Any, threaded_server: Any
) -> None:
    app, voker = make_streaming_app(llm, name="served")

    @voker.person_loader
    def person() -> str:
        return request.headers["X-User"]

    fake_llm.set_default(chunk_delay=0.01)  # really streamed, chunk by chunk
    chat = serve_chat(threaded_server, app)

    with requests.Session() as browser, requests.Session() as api:
        assert chat(browser, "/chat", "hello there", **{"X-User": "ada"}) == (
            "reply: Echo: hello there"
        )
        assert "session" in browser.cookies  # the id left with the headers
        assert chat(browser, "/chat", "again", **{"X-User": "ada"}) == "reply: Echo: again"
        headers = {"X-User": "bob", "X-Voker-Session": "api-1"}
        assert chat(api, "/chat", "from api", **headers).endswith("from api")
    assert default_voker_client.flush(10)

    events = voker_server.events(event_name="llm")
    assert len(events) == 3
    by_person: dict[str, set[str]] = {}
    for event in events:
        assert event["agent"] == "support-bot"
        by_person.setdefault(event["person"], set()).add(event["session"])
    assert by_person["bob"] == {"api-1"}
    assert len(by_person["ada"]) == 1  # one browser, one conversation
    assert by_person["ada"] != {"api-1"}
    assert voker_server.person("ada") is not None


def test_undeclared_streamed_chat_gets_a_session_per_request_and_one_warning(
    default_voker_client: Any,
    voker_server: Any,
    llm: Any,
    threaded_server: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, voker = make_streaming_app(llm, declared=False, name="undeclared")
    loads: list[str] = []

    @voker.person_loader
    def person() -> str:
        loads.append("called")
        return request.headers["X-User"]  # needs the request, which the body has outlived

    @app.post("/declared")
    @voker.streams_llm
    def declared() -> Response:
        return Response(chat_chunks(llm, request.get_json()["text"]), mimetype="text/plain")

    chat = serve_chat(threaded_server, app)
    caplog.set_level(logging.DEBUG, logger="voker.flask")
    with requests.Session() as newcomer, requests.Session() as regular:
        assert chat(newcomer, "/chat", "one", **{"X-User": "ada"}) == "reply: Echo: one"
        assert chat(newcomer, "/chat", "two", **{"X-User": "ada"}) == "reply: Echo: two"
        assert not newcomer.cookies  # nothing could be set before the body ran
        # A visitor whose Flask session already holds the id keeps it in undeclared bodies.
        assert chat(regular, "/declared", "three", **{"X-User": "bob"}) == "Echo: three"
        assert chat(regular, "/chat", "four", **{"X-User": "bob"}) == "reply: Echo: four"
    assert default_voker_client.flush(10)

    by_text = {
        e["properties"]["inputs"]["messages"][0]["content"]: e
        for e in voker_server.events(event_name="llm")
    }
    assert len({by_text["one"]["session"], by_text["two"]["session"]}) == 2
    assert by_text["three"]["session"] == by_text["four"]["session"]
    assert {e["session"] for e in by_text.values()} == {
        by_text["one"]["session"],
        by_text["two"]["session"],
        by_text["three"]["session"],
    }
    # The person loader needs the request: only the declared view's could run (before its body).
    assert {text: e["person"] for text, e in by_text.items()} == {
        "one": None,
        "two": None,
        "three": "bob",
        "four": None,
    }
    assert loads == ["called"] * 4
    late = [r for r in caplog.records if "after its response's headers were sent" in r.message]
    assert [r.levelno for r in late] == [logging.WARNING]  # once per app
    assert "/chat" in late[0].message and "@voker.streams_llm" in late[0].message
    assert any(r.levelno == logging.DEBUG and "/chat" in r.message for r in caplog.records)
    assert "resolving the person failed outside its request" in caplog.text


def test_a_failing_body_setup_never_breaks_the_response(
    llm: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import voker_flask.extension as extension

    def broken(*args: Any, **kwargs: Any) -> Callable[[], Any]:
        raise RuntimeError("bug")

    monkeypatch.setattr(extension, "reenter", broken)
    app, _ = make_streaming_app(llm, name="broken")

    @app.get("/export")
    def export() -> Response:
        return Response(iter(["a,b\n"]), mimetype="text/csv")

    assert app.test_client().get("/export").get_data() == b"a,b\n"
    assert "could not keep the context of a streamed response" in caplog.text


def test_async_view_and_flask_login_person_in_a_declared_streamed_body(
    default_voker_client: Any, voker_server: Any, llm: Any
) -> None:
    import flask_login

    from .test_people import User, make_login_app

    app = make_login_app(llm, {"1": User(1, "ada", "ada@example.com")}, [])
    voker = app.extensions["voker"].extension
    teardowns: list[str] = []

    @app.teardown_request
    def count(_: BaseException | None) -> None:
        teardowns.append(request.path)

    @app.post("/stream")
    @voker.streams_llm
    async def stream() -> Response:  # an async view returning a streamed body
        assert flask_login.current_user.is_authenticated
        return Response(chat_chunks(llm, "async"), mimetype="text/plain")

    client = app.test_client()
    client.post("/login/1")
    response = client.post("/stream", headers={"X-Voker-Session": "async-1"})
    assert response.get_data(as_text=True) == "Echo: async"
    assert voker_core.current_context() == EMPTY
    assert default_voker_client.flush(5)
    [event] = voker_server.events(event_name="llm")
    assert (event["session"], event["agent"], event["person"]) == ("async-1", "support-bot", "1")
    assert teardowns == ["/login/1", "/stream"]  # Flask-Login's user was read in the request


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "undeclared"])
@pytest.mark.parametrize("secret_key", [True, False], ids=["cookie", "no-secret-key"])
def test_teardown_functions_run_once_for_a_streamed_llm_response(
    default_voker_client: Any, voker_server: Any, llm: Any, declared: bool, secret_key: bool
) -> None:
    app, voker = make_streaming_app(llm, declared=declared, name="teardowns")
    if not secret_key:  # an API app: session_loader and person_loader both read the request
        app.config["SECRET_KEY"] = None

        @voker.session_loader
        def conversation() -> str | None:
            return request.headers.get("X-Conversation")

    runs: list[str] = []

    @app.teardown_request
    def request_teardown(_: BaseException | None) -> None:
        runs.append("request")

    @app.teardown_appcontext
    def app_teardown(_: BaseException | None) -> None:
        runs.append("app")

    @voker.person_loader
    def person() -> str | None:
        return request.headers.get("X-User")

    response = app.test_client().post(
        "/chat", json={"text": "hi"}, headers={"X-User": "ada", "X-Conversation": "c-1"}
    )
    assert response.get_data(as_text=True) == "reply: Echo: hi"
    assert runs == ["request", "app"]  # before the body ran; never again
    assert default_voker_client.flush(5)
    [event] = voker_server.events(event_name="llm")
    assert event["person"] == ("ada" if declared else None)
    if not secret_key:
        assert (event["session"] == "c-1") is declared


class ScopedSession:
    """What the Flask docs' "SQLAlchemy in Flask" pattern does with ``scoped_session``: one unit
    of work per thread, removed (rolled back, closed) in ``teardown_appcontext``. Modelled with
    sqlite3, which has the same transaction semantics."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.local = threading.local()

    def __call__(self) -> sqlite3.Connection:
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = self.local.connection = sqlite3.connect(self.path)
        return connection

    def remove(self) -> None:
        connection = getattr(self.local, "connection", None)
        if connection is not None:
            connection.rollback()
            connection.close()
            self.local.connection = None


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "undeclared"])
def test_a_scoped_db_session_keeps_the_bodys_writes_around_the_llm_call(
    default_voker_client: Any, voker_server: Any, llm: Any, tmp_path: Any, declared: bool
) -> None:
    db_path = str(tmp_path / "chat.db")
    with sqlite3.connect(db_path) as setup:
        setup.execute("create table messages (role text, content text)")
    db_session = ScopedSession(db_path)
    app = Flask("scoped_db")
    app.config.update(SECRET_KEY="secret", VOKER_AGENT="support-bot")
    voker = Voker(app)

    @app.teardown_appcontext
    def shutdown_session(_: BaseException | None = None) -> None:
        db_session.remove()

    @app.before_request
    def load_user() -> None:
        g.user = request.headers.get("X-User")

    @voker.person_loader
    def person() -> str | None:
        return g.user

    def chat() -> Response:
        text = request.get_json()["text"]

        def generate() -> Iterator[str]:
            db_session().execute("insert into messages values ('user', ?)", (text,))
            answer = "".join(chat_chunks(llm, text))  # records: session and person are read
            yield answer
            db_session().execute("insert into messages values ('assistant', ?)", (answer,))
            db_session().commit()

        return Response(generate(), mimetype="text/plain")

    app.post("/chat")(voker.streams_llm(chat) if declared else chat)
    response = app.test_client().post("/chat", json={"text": "hello"}, headers={"X-User": "ada"})
    assert response.get_data(as_text=True) == "Echo: hello"
    with sqlite3.connect(db_path) as check:
        rows = check.execute("select role, content from messages").fetchall()
    assert rows == [("user", "hello"), ("assistant", "Echo: hello")]
    assert default_voker_client.flush(5)
    [event] = voker_server.events(event_name="llm")
    assert event["person"] == ("ada" if declared else None)


def test_a_streamed_request_is_freed_without_the_garbage_collector(llm: Any) -> None:
    app, _ = make_streaming_app(llm, name="freed")
    alive: list[weakref.ref[Any]] = []

    @app.get("/export")
    @voker_streams(app)
    def export() -> Response:
        alive.append(weakref.ref(request._get_current_object()))  # type: ignore[attr-defined]
        return Response(iter(["a", "b"]), mimetype="text/csv")

    client = app.test_client()
    gc.disable()
    try:
        for headers in ({}, {"X-Voker-Session": "s-1"}):
            response = client.get("/export", headers=headers)
            assert response.get_data() == b"ab"
            response.close()
        assert [ref() for ref in alive] == [None, None]  # no reference cycle keeps them
    finally:
        gc.enable()


def voker_streams(app: Flask) -> Callable[[Any], Any]:
    """The app's ``voker.streams_llm``."""
    return cast(Callable[[Any], Any], app.extensions["voker"].extension.streams_llm)


def test_an_async_llm_call_in_a_declared_body_keeps_the_person(
    default_voker_client: Any, voker_server: Any, make_async_llm: Callable[[], Any], llm: Any
) -> None:
    app, voker = make_streaming_app(llm, name="async_body")

    @app.before_request
    def load_user() -> None:
        g.user = request.headers.get("X-User")

    @voker.person_loader
    def person() -> str | None:
        return g.user

    async def ask(text: str) -> str:
        async with make_async_llm() as client:
            completion = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": text}]
            )
            return str(completion.choices[0].message.content)

    @app.post("/ask")
    @voker.streams_llm
    def ask_view() -> Response:
        def generate() -> Iterator[str]:
            yield asyncio.run(ask("hi"))

        return Response(generate(), mimetype="text/plain")

    response = app.test_client().post("/ask", headers={"X-User": "ada"})
    assert response.get_data(as_text=True) == "Echo: hi"
    assert "Set-Cookie" in response.headers
    assert default_voker_client.flush(5)
    [event] = voker_server.events(event_name="llm")
    assert event["person"] == "ada"
    assert event["session"]


def test_streams_llm_marks_view_functions_and_view_classes_only(
    default_voker_client: Any, voker_server: Any, llm: Any
) -> None:
    app = Flask("marks")
    app.config.update(SECRET_KEY="secret", VOKER_AGENT="support-bot")
    voker = Voker(app)

    @voker.streams_llm
    class Chat(MethodView):
        def post(self) -> Response:
            return Response(chat_chunks(llm, request.path), mimetype="text/plain")

    class Child(Chat):  # inherits the mark
        pass

    app.add_url_rule("/chat", view_func=Chat.as_view("chat"))
    app.add_url_rule("/child", view_func=Child.as_view("child"))
    for path in ["/chat", "/child"]:
        response = app.test_client().post(path)
        assert response.get_data(as_text=True) == f"Echo: {path}"
        assert "Set-Cookie" in response.headers, path

    with pytest.raises(TypeError, match="streams_llm"):
        voker.streams_llm(Blueprint("bp", __name__))
    with pytest.raises(TypeError, match="streams_llm"):
        voker.streams_llm(object)
    with pytest.raises(TypeError, match="streams_llm"):
        voker.streams_llm(42)
    assert default_voker_client.flush(5)
    assert len({e["session"] for e in voker_server.events(event_name="llm")}) == 2
