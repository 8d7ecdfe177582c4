"""The request lifecycle: async views, views that raise, Voker down, a real threaded server."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import pytest
import requests
from flask import Blueprint, Flask, abort, request

import voker_core
from voker_flask import Voker

from .conftest import MODEL, ask

EMPTY = voker_core.current_context()


def test_async_view_records_with_the_requests_session_person_and_agent(
    default_voker_client: Any, voker_server: Any, make_async_llm: Any
) -> None:
    app = Flask("async_app")
    app.config.update(SECRET_KEY="secret", VOKER_AGENT="async-bot")
    voker = Voker(app)

    @voker.person_loader
    async def person() -> tuple[str, dict[str, Any]]:  # async loaders are awaited
        return request.headers["X-User"], {"via": "async"}

    @app.post("/chat")
    async def chat() -> dict[str, Any]:
        llm = make_async_llm()
        try:
            completion = await llm.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "async hi"}]
            )
        finally:
            await llm.close()
        return {
            "reply": completion.choices[0].message.content,
            "session": voker_core.current_context().session,
        }

    @app.post("/decorated")
    @voker.agent("decorated-async-bot")
    async def decorated() -> dict[str, Any]:
        return {"agent": voker_core.current_context().agent}

    client = app.test_client()
    body = client.post("/chat", headers={"X-User": "u-1"}).get_json()
    assert body["reply"] == "Echo: async hi"
    assert client.post("/decorated").get_json() == {"agent": "decorated-async-bot"}
    assert default_voker_client.flush(5)

    [event] = voker_server.events(event_name="llm")
    assert (event["session"], event["agent"], event["person"]) == (
        body["session"],
        "async-bot",
        "u-1",
    )
    assert voker_server.person("u-1")["properties"] == {"via": "async"}
    assert voker_core.current_context() == EMPTY


def test_a_view_that_raises_still_pops_the_context(
    default_voker_client: Any, voker_server: Any, llm: Any
) -> None:
    app = Flask("raising")
    app.config.update(SECRET_KEY="secret", VOKER_AGENT="support-bot")
    voker = Voker(app)
    seen: list[voker_core.VokerContext] = []

    @app.before_request
    def maybe_fail_early() -> None:
        if request.path == "/early":
            abort(403)  # a before_request hook ending the request: teardown still runs

    @app.post("/boom")
    @voker.agent("crash-bot")
    def boom() -> str:
        ask(llm, "before the crash")
        # A context entered and never left (the view dies first): teardown still cleans up.
        voker_core.context(properties={"leaked": True}).__enter__()
        raise RuntimeError("view failed")

    @app.get("/early")
    def early() -> str:  # pragma: no cover - never reached
        return "unreachable"

    @app.get("/inspect")
    def inspect_context() -> dict[str, Any]:
        ctx = voker_core.current_context()
        seen.append(ctx)
        return {"agent": ctx.agent, "properties": dict(ctx.properties)}

    client = app.test_client()
    response = client.post("/boom", headers={"X-Voker-Session": "crash-session"})
    assert response.status_code == 500
    assert voker_core.current_context() == EMPTY  # popped, same thread (the test client's)
    assert client.get("/early").status_code == 403
    assert voker_core.current_context() == EMPTY

    assert client.get("/inspect").get_json() == {"agent": "support-bot", "properties": {}}
    assert seen[0].session != "crash-session"
    assert voker_core.current_context() == EMPTY

    # The crashed request's LLM call was recorded in its own session and agent.
    assert default_voker_client.flush(5)
    [event] = voker_server.events(session="crash-session")
    assert event["agent"] == "crash-bot"


def test_the_context_is_also_popped_when_exceptions_propagate(llm: Any) -> None:
    app = Flask("propagating")
    app.config.update(SECRET_KEY="secret", VOKER_AGENT="support-bot", TESTING=True)
    Voker(app)

    @app.get("/boom")
    def boom() -> str:
        assert voker_core.current_context().agent == "support-bot"
        raise KeyError("propagates to the test")

    with pytest.raises(KeyError):
        app.test_client().get("/boom")
    assert voker_core.current_context() == EMPTY


def _app_whose_teardown_raises(
    name: str, llm: Any, make_async_llm: Any, *, where: str, async_views: bool = False
) -> Flask:
    """An app with no agent of its own, an ``admin`` blueprint (agent ``admin-bot``) whose
    ``POST /admin/chat`` calls a model, a ``POST /feedback`` view recording a custom event, and
    a teardown function that raises once, ahead of the extension's: in the blueprint (Flask runs
    those first) or at app level, registered after ``init_app`` (Flask runs those
    last-registered first). Flask stops its teardown chain there.

    The app sets no ``VOKER_AGENT``, so a request inherits a leaked blueprint agent instead of
    overriding it. ``/feedback`` answers with the context it sees.
    """
    app = Flask(name)
    app.config.update(SECRET_KEY="secret")
    voker = Voker(app)
    admin = Blueprint("admin", __name__, url_prefix="/admin")
    voker.agent("admin-bot")(admin)
    failures = ["once"]

    def close_resources(exc: BaseException | None) -> None:
        if failures:
            failures.pop()
            raise RuntimeError("bug in a teardown function")

    (admin if where == "blueprint" else app).teardown_request(close_resources)

    def chat() -> str:
        return ask(llm, "admin question")

    async def chat_async() -> str:
        async_llm = make_async_llm()
        try:
            completion = await async_llm.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "admin question"}]
            )
        finally:
            await async_llm.close()
        return str(completion.choices[0].message.content)

    def feedback() -> dict[str, Any]:
        voker_core.get_client().events.create(event_name="thumbs_up")
        ctx = voker_core.current_context()
        return {"agent": ctx.agent, "session": ctx.session}

    async def feedback_async() -> dict[str, Any]:
        return feedback()

    admin.add_url_rule("/chat", "chat", chat_async if async_views else chat, methods=["POST"])
    app.register_blueprint(admin)
    app.add_url_rule(
        "/feedback", "feedback", feedback_async if async_views else feedback, methods=["POST"]
    )
    return app


def _assert_clean_second_request(
    body: dict[str, Any], default_voker_client: Any, voker_server: Any
) -> None:
    """The request after the failed one has no agent and a session of its own, and so has its
    event; the failed request's own event kept its blueprint agent and session."""
    assert body["agent"] is None
    assert body["session"] not in (None, "admin-conv")
    assert default_voker_client.flush(5)
    [admin_event] = voker_server.events(event_name="llm")
    assert (admin_event["agent"], admin_event["session"]) == ("admin-bot", "admin-conv")
    [feedback_event] = voker_server.events(event_name="thumbs_up")
    assert (feedback_event["agent"], feedback_event["session"]) == (None, body["session"])


@pytest.mark.parametrize("where", ["blueprint", "app"])
@pytest.mark.parametrize("app_context", [False, True], ids=["per_request", "app_context_kept"])
def test_the_context_never_outlives_a_request_whose_teardown_chain_raises(
    default_voker_client: Any,
    voker_server: Any,
    llm: Any,
    make_async_llm: Any,
    where: str,
    app_context: bool,
) -> None:
    app = _app_whose_teardown_raises(f"teardown_{where}", llm, make_async_llm, where=where)
    client = app.test_client()
    with contextlib.ExitStack() as scope:
        if app_context:  # a test fixture's app context: g is shared by the requests
            scope.enter_context(app.app_context())
        with pytest.raises(RuntimeError, match="bug in a teardown function"):
            client.post("/admin/chat", headers={"X-Voker-Session": "admin-conv"})
        # Code outside any request (here: the test client's thread) sees no Voker context.
        assert voker_core.current_context() == EMPTY
        body = client.post("/feedback").get_json()
    assert voker_core.current_context() == EMPTY
    _assert_clean_second_request(body, default_voker_client, voker_server)


@pytest.mark.parametrize("async_views", [False, True], ids=["sync", "async"])
def test_a_reused_server_thread_starts_clean_after_a_teardown_raised(
    default_voker_client: Any,
    voker_server: Any,
    llm: Any,
    make_async_llm: Any,
    threaded_server: Any,
    async_views: bool,
) -> None:
    app = _app_whose_teardown_raises(
        "reused_thread", llm, make_async_llm, where="blueprint", async_views=async_views
    )
    # One thread serves every request, as in a gunicorn sync worker.
    base_url = threaded_server(app, threaded=False)
    with requests.Session() as http:
        failed = http.post(
            f"{base_url}/admin/chat", headers={"X-Voker-Session": "admin-conv"}, timeout=10
        )
        assert failed.status_code == 500
        body = http.post(f"{base_url}/feedback", timeout=10).json()
    _assert_clean_second_request(body, default_voker_client, voker_server)


def test_voker_down_leaves_responses_unchanged(
    default_voker_client: Any, voker_server: Any, llm: Any
) -> None:
    app = Flask("down")
    app.config.update(SECRET_KEY="secret", VOKER_AGENT="support-bot")
    voker = Voker(app)

    @voker.person_loader
    def person() -> tuple[str, dict[str, str]]:
        return "u-1", {"name": "Ada"}

    @app.post("/chat")
    def chat() -> dict[str, Any]:
        return {"reply": ask(llm, request.get_json()["text"])}

    client = app.test_client()
    up = client.post("/chat", json={"text": "ping"})
    assert default_voker_client.flush(5)

    voker_server.stop()  # connections refused from now on
    started = time.perf_counter()
    down = [client.post("/chat", json={"text": "ping"}) for _ in range(5)]
    elapsed = time.perf_counter() - started

    for response in down:
        assert (response.status_code, response.get_json()) == (up.status_code, up.get_json())
        assert response.get_json() == {"reply": "Echo: ping"}
    assert elapsed < 2.0  # nothing waits on Voker (its client only enqueues)

    voker_server.start()  # back: what was queued while it was down is delivered
    assert default_voker_client.flush(10)
    assert len(voker_server.wait_for_events(6, event_name="llm")) == 6


def test_threaded_server_with_concurrent_clients_never_mixes_sessions(
    default_voker_client: Any, voker_server: Any, fake_llm: Any, llm: Any, threaded_server: Any
) -> None:
    app = Flask("threaded")
    app.config.update(SECRET_KEY="secret", VOKER_AGENT="support-bot")
    voker = Voker(app)

    @voker.person_loader
    def person() -> str:
        return request.headers["X-User"]

    @app.post("/chat")
    def chat() -> dict[str, Any]:
        reply = ask(llm, request.headers["X-User"])
        ctx = voker_core.current_context()
        return {"reply": reply, "session": ctx.session, "person": ctx.person}

    # Slow the provider down a little so that requests really overlap.
    fake_llm.set_default(chunk_delay=0.0, delay=0.02)
    base_url = threaded_server(app)
    clients, rounds = 8, 5
    results: dict[str, list[dict[str, Any]]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(clients)

    def browse(index: int) -> None:
        user = f"user-{index}"
        headers = {"X-User": user}
        if index % 2:  # half keep the session in a header, half in the cookie jar
            headers["X-Voker-Session"] = f"header-session-{index}"
        try:
            with requests.Session() as http:
                barrier.wait(5)
                results[user] = [
                    http.post(f"{base_url}/chat", headers=headers, timeout=10).json()
                    for _ in range(rounds)
                ]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=browse, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors

    session_of_user: dict[str, str] = {}
    for user, answers in results.items():
        assert [a["reply"] for a in answers] == [f"Echo: {user}"] * rounds
        assert {a["person"] for a in answers} == {user}
        sessions = {a["session"] for a in answers}
        assert len(sessions) == 1, (user, sessions)  # stable for one client
        session_of_user[user] = sessions.pop()
    assert len(set(session_of_user.values())) == clients  # never shared between clients
    index = 1
    assert session_of_user[f"user-{index}"] == f"header-session-{index}"

    assert default_voker_client.flush(10)
    events = voker_server.events(event_name="llm")
    assert len(events) == clients * rounds
    for event in events:
        user = event["properties"]["inputs"]["messages"][0]["content"]
        assert event["person"] == user
        assert event["session"] == session_of_user[user]
        assert event["agent"] == "support-bot"
