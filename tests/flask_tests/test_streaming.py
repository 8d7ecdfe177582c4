"""Streamed responses: the body (produced after teardown) still records in the request's context.

The usual streaming-chat view returns ``Response(generate())`` and makes its streamed LLM call
inside ``generate``, which the server runs after Flask has left the request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

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
    llm: Any, *, with_context: bool = False, name: str = "streaming"
) -> tuple[Flask, Voker]:
    """An app with a streaming chat view (optionally under Flask's ``stream_with_context``)."""
    app = Flask(name)
    app.config.update(SECRET_KEY="secret", VOKER_AGENT="support-bot")
    voker = Voker(app)

    @app.post("/chat")
    def chat() -> Response:
        text = request.get_json()["text"]

        def generate() -> Iterator[str]:
            yield "reply: "
            yield from chat_chunks(llm, text)

        body = stream_with_context(generate()) if with_context else generate()
        return Response(body, mimetype="text/plain")

    return app, voker


@pytest.mark.parametrize("with_context", [False, True], ids=["plain", "stream_with_context"])
def test_streamed_chat_records_once_with_header_session_agent_and_lazy_person(
    default_voker_client: Any, voker_server: Any, llm: Any, with_context: bool
) -> None:
    app, voker = make_streaming_app(llm, with_context=with_context)
    loads: list[str] = []

    @app.before_request
    def load_user() -> None:
        g.user = request.headers.get("X-User")

    @voker.person_loader
    def person() -> tuple[str, dict[str, Any]] | None:
        # Reads g and request: resolved in the body, after the request has ended.
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
    assert loads == ["u-1"]  # lazily, once
    assert voker_server.person("u-1")["properties"] == {"via": "u-1"}


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


def test_other_responses_are_left_alone(tmp_path: Any, llm: Any) -> None:
    app, _ = make_streaming_app(llm, name="others")
    report = tmp_path / "report.txt"
    report.write_text("file body")

    @app.get("/file")
    def file() -> Response:
        return send_file(report)

    @app.get("/plain")
    def plain() -> str:
        return "plain"

    @app.get("/export")
    def export() -> Response:
        return Response(iter(["a,b\n", "1,2\n"]), mimetype="text/csv")

    client = app.test_client()
    file_response = client.get("/file")
    assert file_response.get_data() == b"file body"
    assert "Set-Cookie" not in file_response.headers  # send_file is not wrapped
    plain_response = client.get("/plain")
    assert plain_response.get_data() == b"plain"
    assert "Set-Cookie" not in plain_response.headers
    # A streamed response gets its (cookie-only, query-free) session id up front.
    export_response = client.get("/export")
    assert export_response.get_data() == b"a,b\n1,2\n"
    assert "Set-Cookie" in export_response.headers


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


def test_server_side_sessions_are_only_written_early_for_visitors_who_have_one(
    default_voker_client: Any, voker_server: Any, llm: Any
) -> None:
    app, _ = make_streaming_app(llm, name="server_side")
    sessions = ServerSideSessions()
    app.session_interface = sessions

    @app.post("/login")
    def login() -> str:
        from flask import session

        session["user"] = "ada"
        return "ok"

    @app.get("/export")
    def export() -> Response:
        return Response(iter(["a,b\n"]), mimetype="text/csv")

    visitor = app.test_client()
    assert visitor.get("/export").get_data() == b"a,b\n"
    assert sessions.writes == 0  # a first-time visitor's download creates no stored session

    member = app.test_client()
    member.post("/login")
    assert sessions.writes == 1
    member.post("/chat", json={"text": "one"}).get_data()
    member.post("/chat", json={"text": "two"}).get_data()
    assert default_voker_client.flush(5)
    events = voker_server.events(event_name="llm")
    [sid] = sessions.store
    assert {e["session"] for e in events} == {sessions.store[sid][FLASK_SESSION_KEY]}


def test_streamed_chat_under_a_real_server_keeps_one_session_per_browser(
    default_voker_client: Any, voker_server: Any, fake_llm: Any, llm: Any, threaded_server: Any
) -> None:
    app, voker = make_streaming_app(llm, name="served")

    @voker.person_loader
    def person() -> str:
        return request.headers["X-User"]

    fake_llm.set_default(chunk_delay=0.01)  # really streamed, chunk by chunk
    base_url: str = threaded_server(app)

    def chat(http: requests.Session, text: str, **headers: str) -> str:
        with http.post(
            f"{base_url}/chat", json={"text": text}, headers=headers, stream=True, timeout=10
        ) as response:
            response.raise_for_status()
            return "".join(response.iter_content(decode_unicode=True))

    with requests.Session() as browser, requests.Session() as api:
        assert chat(browser, "hello there", **{"X-User": "ada"}) == "reply: Echo: hello there"
        assert chat(browser, "again", **{"X-User": "ada"}) == "reply: Echo: again"
        assert chat(api, "from api", **{"X-User": "bob", "X-Voker-Session": "api-1"}).endswith(
            "from api"
        )
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


def test_async_view_and_flask_login_person_in_a_plain_streamed_body(
    default_voker_client: Any, voker_server: Any, llm: Any
) -> None:
    import flask_login

    from .test_people import User, make_login_app

    app = make_login_app(llm, {"1": User(1, "ada", "ada@example.com")}, [])
    teardowns: list[str] = []

    @app.teardown_request
    def count(_: BaseException | None) -> None:
        teardowns.append(request.path)

    @app.post("/stream")
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
    # Re-entering the request for the person ran the teardown functions once more, as Flask's
    # stream_with_context does.
    assert teardowns == ["/login/1", "/stream", "/stream"]
