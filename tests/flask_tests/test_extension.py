"""Voker(app) / init_app: configuration, per-app state and clients, agents at every level."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import Any

import pytest
from flask import Blueprint, Flask
from flask.views import MethodView

import voker_core
from voker_flask import Voker, VokerState

from .conftest import ask


def test_app_factory_two_apps_in_one_process_keep_their_own_agents_and_clients(
    voker_server: Any, llm: Any
) -> None:
    voker = Voker()  # one extension object, module-level in a real app

    def create_app(agent: str, description: str) -> Flask:
        app = Flask(f"app_{agent.replace('-', '_')}")
        app.config.update(
            SECRET_KEY="secret",
            VOKER_API_KEY="test-key",
            VOKER_BASE_URL=voker_server.base_url,
            VOKER_AGENT=agent,
            VOKER_AGENT_VERSION="v1",
            VOKER_AGENTS={agent: {"description": description, "versions": {"v1": "first"}}},
        )
        voker.init_app(app)

        @app.post("/chat")
        def chat() -> dict[str, Any]:
            return {"reply": ask(llm, "hi"), "session": voker_core.current_context().session}

        return app

    support = create_app("support-bot", "Answers support questions")
    sales = create_app("sales-bot", "Sells")
    states = [support.extensions["voker"], sales.extensions["voker"]]
    try:
        assert all(isinstance(s, VokerState) for s in states)
        # Each app set its own key/URL, so each got a client of its own.
        assert states[0].own_client is not None and states[1].own_client is not None
        assert states[0].own_client is not states[1].own_client

        support_reply = support.test_client().post("/chat").get_json()
        sales_reply = sales.test_client().post("/chat").get_json()
        support_reply_2 = support.test_client().post("/chat").get_json()
        assert support_reply["reply"] == sales_reply["reply"] == "Echo: hi"

        for state in states:
            assert state.own_client is not None
            assert state.own_client.flush(5)
        support_events = voker_server.events(agent="support-bot")
        sales_events = voker_server.events(agent="sales-bot")
        # Two test clients (browsers), two sessions; delivery order across sessions is free.
        assert sorted(e["session"] for e in support_events) == sorted(
            [support_reply["session"], support_reply_2["session"]]
        )
        assert [e["session"] for e in sales_events] == [sales_reply["session"]]
        assert {e["agent_version"] for e in support_events + sales_events} == {"v1"}
        assert all(e["properties"]["api"] == "openai-chat-completions" for e in support_events)

        # Agents from VOKER_AGENTS were registered at init, with their versions and descriptions.
        agents = {a["agent_name"]: a for a in voker_server.agents()}
        assert agents["support-bot"]["description"] == "Answers support questions"
        assert agents["sales-bot"]["description"] == "Sells"
        versions = voker_server.agent_versions("support-bot")
        assert [(v["agent_version_name"], v["description"]) for v in versions] == [("v1", "first")]
    finally:
        for state in states:
            state.close(5)


def test_agents_are_registered_at_init_without_any_request(voker_server: Any) -> None:
    app = Flask("registry")
    app.config.update(
        VOKER_API_KEY="test-key",
        VOKER_BASE_URL=voker_server.base_url,
        VOKER_AGENTS={
            "support-bot": {"description": "Answers", "versions": {"v1": "one", "v2": None}},
            "billing-bot": {"description": "Explains invoices"},
            "triage-bot": {"versions": {"a": None}},
        },
    )
    Voker(app)
    own = app.extensions["voker"].own_client
    try:
        assert own.flush(5)
        agents = {a["agent_name"]: a["description"] for a in voker_server.agents()}
        assert agents == {
            "support-bot": "Answers",
            "billing-bot": "Explains invoices",
            "triage-bot": None,
        }
        assert [v["agent_version_name"] for v in voker_server.agent_versions("support-bot")] == [
            "v1",
            "v2",
        ]
        assert [v["agent_version_name"] for v in voker_server.agent_versions("triage-bot")] == ["a"]
    finally:
        own.close(5)


def test_apps_without_their_own_settings_share_the_default_client(
    default_voker_client: Any, voker_server: Any, llm: Any
) -> None:
    app = Flask("shared")
    app.config.update(SECRET_KEY="s", VOKER_AGENT="helper")
    Voker(app)

    @app.get("/")
    def index() -> str:
        return ask(llm)

    assert app.extensions["voker"].own_client is None
    assert app.extensions["voker"].client() is default_voker_client
    assert app.test_client().get("/").status_code == 200
    assert default_voker_client.flush(5)
    [event] = voker_server.events(agent="helper")
    assert event["session"]


def test_init_twice_on_one_app_is_an_error() -> None:
    app = Flask("twice")
    voker = Voker(app)
    with pytest.raises(RuntimeError, match="already initialised"):
        voker.init_app(app)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"VOKER_SESSION_HEADER": "X Voker"}, "VOKER_SESSION_HEADER must be an HTTP header name"),
        ({"VOKER_SESSION_HEADER": ""}, "VOKER_SESSION_HEADER"),
        ({"VOKER_AGENT": ""}, "VOKER_AGENT must be a non-empty string"),
        ({"VOKER_AGENT": 42}, "VOKER_AGENT must be a non-empty string"),
        ({"VOKER_AGENT_VERSION": "v1"}, "VOKER_AGENT_VERSION is set but VOKER_AGENT is not"),
        ({"VOKER_AGENTS": ["support-bot"]}, "VOKER_AGENTS must be a dict"),
        ({"VOKER_AGENTS": {"bot": {"version": {}}}}, r"VOKER_AGENTS\['bot'\]: unknown key"),
        ({"VOKER_AGENTS": {"bot": {"versions": {"v1": 3}}}}, "description must be a string"),
        ({"VOKER_AGENTS": "{not json"}, "VOKER_AGENTS: not valid JSON"),
        ({"VOKER_CAPTURE_CONTENT": "sometimes"}, "VOKER_CAPTURE_CONTENT"),
        ({"VOKER_CELERY": "maybe"}, "VOKER_CELERY must be a boolean"),
        ({"VOKER_BASE_URL": "ftp://x"}, "VOKER_BASE_URL"),
        ({"VOKER_API_KEY": 123}, "VOKER_API_KEY"),
        # Blank in app.config is an error, not "no key" (a disabled client of the app's own).
        ({"VOKER_API_KEY": ""}, "VOKER_API_KEY in app.config is blank"),
        ({"VOKER_API_KEY": "  "}, "VOKER_API_KEY in app.config is blank"),
    ],
)
def test_bad_config_values_fail_at_init_naming_the_key(
    config: dict[str, Any], message: str
) -> None:
    app = Flask("bad")
    app.config.update(config)
    with pytest.raises(voker_core.ConfigurationError, match=message):
        Voker(app)
    assert "voker" not in app.extensions


def test_config_falls_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOKER_AGENT", "env-bot")
    monkeypatch.setenv("VOKER_SESSION_HEADER", "X-Conversation")
    monkeypatch.setenv("VOKER_AGENTS", '{"env-bot": {"description": "from the environment"}}')
    app = Flask("env")
    app.config["VOKER_AGENTS"] = None  # unset in the config: the environment applies
    settings = Voker(app).init_app(Flask("env2")).settings
    assert settings.agent == "env-bot"
    assert settings.session_header == "X-Conversation"
    assert [(a.name, a.description) for a in settings.agents] == [
        ("env-bot", "from the environment")
    ]
    assert app.extensions["voker"].settings == settings  # both apps read the same environment
    # Without key/URL in the app's config the process-wide client is used.
    assert app.extensions["voker"].own_client is None


@pytest.mark.parametrize("blank", ["", "  "], ids=["empty", "spaces"])
def test_blank_environment_values_count_as_unset(
    monkeypatch: pytest.MonkeyPatch, blank: str
) -> None:
    # A `VOKER_AGENT=` line in a .env or compose template: the app starts with the defaults.
    for key in ("VOKER_AGENT", "VOKER_AGENT_VERSION", "VOKER_SESSION_HEADER", "VOKER_API_KEY"):
        monkeypatch.setenv(key, blank)
    settings = Voker().init_app(Flask("blank_env")).settings
    assert (settings.agent, settings.agent_version, settings.session_header) == (
        None,
        None,
        "X-Voker-Session",
    )
    # A blank version next to a real agent is no version, not an error.
    monkeypatch.setenv("VOKER_AGENT", "env-bot")
    settings = Voker().init_app(Flask("blank_version")).settings
    assert (settings.agent, settings.agent_version) == ("env-bot", None)


def test_a_blank_api_key_in_the_config_does_not_hide_the_environments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VOKER_API_KEY", "test-key")
    app = Flask("blank_key")
    app.config.update(VOKER_API_KEY="")
    # Not a silently disabled client of the app's own: an error saying what to do.
    with pytest.raises(voker_core.ConfigurationError, match="remove it to use the environment"):
        Voker(app)
    assert "voker" not in app.extensions
    del app.config["VOKER_API_KEY"]
    Voker(app)  # the process-wide client, configured by the environment's key
    assert app.extensions["voker"].own_client is None


def test_unknown_voker_keys_are_reported(caplog: pytest.LogCaptureFixture) -> None:
    app = Flask("typo")
    app.config["VOKER_SESION_HEADER"] = "X-S"
    with caplog.at_level(logging.WARNING, logger="voker"):
        Voker(app)
    assert "VOKER_SESION_HEADER" in caplog.text


def test_blueprint_level_agent_view_agent_and_app_default(
    default_voker_client: Any, voker_server: Any, llm: Any
) -> None:
    voker = Voker()
    billing = Blueprint("billing", __name__, url_prefix="/billing")
    voker.agent("billing-bot", version="v2")(billing)
    refunds = Blueprint("refunds", __name__, url_prefix="/refunds")
    voker.agent("refund-bot")(refunds)

    @billing.get("/invoice")
    def invoice() -> str:
        return ask(llm, "invoice")

    @billing.get("/special")
    @voker.agent("special-bot")
    def special() -> str:
        return ask(llm, "special")

    @refunds.get("/")
    def refund() -> str:
        return ask(llm, "refund")

    billing.register_blueprint(refunds)  # nested: /billing/refunds/

    class Report(MethodView):
        def get(self) -> str:
            return ask(llm, "report")

    voker.agent("report-bot")(Report)

    app = Flask("agents")
    app.config.update(SECRET_KEY="s", VOKER_AGENT="default-bot", VOKER_AGENT_VERSION="v9")
    voker.init_app(app)
    app.register_blueprint(billing)
    app.add_url_rule("/report", view_func=Report.as_view("report"))

    @app.get("/plain")
    def plain() -> str:
        return ask(llm, "plain")

    client = app.test_client()
    for path in ["/plain", "/billing/invoice", "/billing/special", "/billing/refunds/", "/report"]:
        response = client.get(path)
        assert response.status_code == 200, path
    assert default_voker_client.flush(5)
    events = voker_server.events()
    got = [(e["properties"]["inputs"]["messages"][0]["content"], e["agent"]) for e in events]
    assert got == [
        ("plain", "default-bot"),
        ("invoice", "billing-bot"),
        ("special", "special-bot"),
        ("refund", "refund-bot"),
        ("report", "report-bot"),
    ]
    versions = {e["agent"]: e["agent_version"] for e in events}
    assert versions["default-bot"] == "v9"
    assert versions["billing-bot"] == "v2"
    # All requests of one browser share one session, whatever the agent.
    assert len({e["session"] for e in events}) == 1


def test_a_class_view_subclass_decorated_again_wins_over_its_parent(
    default_voker_client: Any, voker_server: Any, llm: Any
) -> None:
    app = Flask("subclass")
    app.config.update(SECRET_KEY="s", VOKER_AGENT="default-bot")
    voker = Voker(app)

    def log_calls(view: Any) -> Any:  # an ordinary decorator of the parent's, kept
        def logged(**kwargs: Any) -> Any:
            calls.append(view.__name__)
            return view(**kwargs)

        return logged

    calls: list[str] = []

    @voker.agent("parent-bot")
    class Parent(MethodView):
        decorators = [log_calls]

        def get(self) -> dict[str, Any]:
            ctx = voker_core.current_context()
            return {"agent": ctx.agent, "version": ctx.agent_version, "reply": ask(llm, "x")}

    @voker.agent("child-bot", version="c1")
    class Child(Parent):
        pass

    class Grandchild(Child):  # not decorated: inherits its parent's choice
        pass

    app.add_url_rule("/parent", view_func=Parent.as_view("parent"))
    app.add_url_rule("/child", view_func=Child.as_view("child"))
    app.add_url_rule("/grandchild", view_func=Grandchild.as_view("grandchild"))
    client = app.test_client()
    assert client.get("/parent").get_json()["agent"] == "parent-bot"
    assert client.get("/child").get_json() == {
        "agent": "child-bot",
        "version": "c1",
        "reply": "Echo: x",
    }
    assert client.get("/grandchild").get_json()["agent"] == "child-bot"
    assert calls == ["parent", "child", "grandchild"]  # the other decorator still applies
    assert len(Parent.decorators) == 2  # the parent's list is its own, untouched
    assert default_voker_client.flush(5)
    assert [e["agent"] for e in voker_server.events(event_name="llm")] == [
        "parent-bot",
        "child-bot",
        "child-bot",
    ]


def test_agent_decorator_rejects_bad_names_and_targets() -> None:
    with pytest.raises(ValueError, match="agent"):
        Voker.agent("")
    with pytest.raises(TypeError, match="decorates a view function"):
        Voker.agent("bot")(42)


def test_voker_celery_instruments_the_apps_celery_app(llm: Any) -> None:
    from celery import Celery

    celery_app = Celery("flask_voker_celery", broker="memory://", backend=None)

    @celery_app.task(name="flask_voker_celery.summarise")
    def summarise() -> None:  # pragma: no cover - only published here, never run
        pass

    app = Flask("with_celery")
    app.config.update(SECRET_KEY="s", VOKER_AGENT="support-bot", VOKER_CELERY=True)
    app.extensions["celery"] = celery_app  # as Flask's Celery guide does
    Voker(app)

    @app.post("/queue")
    def queue() -> str:
        summarise.apply_async()
        return "queued"

    response = app.test_client().post("/queue", headers={"X-Voker-Session": "conv-celery"})
    assert response.status_code == 200
    with celery_app.connection_for_read() as connection:
        message = connection.SimpleQueue("celery").get(timeout=5)
        message.ack()
    # The task message carries the request's context, so the worker runs it in the same session.
    assert message.headers["voker_context"] == {"session": "conv-celery", "agent": "support-bot"}


CLI_APP = """
from flask import Flask
from voker_flask import Voker

app = Flask("cli-app")
app.config.update(VOKER_AGENTS={"support-bot": {"description": "Answers"}})
Voker(app)

@app.get("/")
def index():
    return "ok"
"""


def test_flask_cli_commands_other_than_run_register_no_agents(
    voker_server: Any, tmp_path: Any
) -> None:
    # `flask routes`, `flask --help`... load the app but serve nothing: registering there only
    # made each of them wait at exit when Voker was slow or down.
    (tmp_path / "cli_app.py").write_text(CLI_APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "VOKER_"))}
    env.update(VOKER_API_KEY="test-key", VOKER_BASE_URL=voker_server.base_url)
    for command in (["routes"], ["--help"]):
        result = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "cli_app", *command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
    assert (
        "GET"
        in subprocess.run(
            [sys.executable, "-m", "flask", "--app", "cli_app", "routes"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    )
    assert voker_server.agents() == []


@pytest.mark.parametrize(
    ("argv", "registers"),
    [
        (["/venv/bin/flask", "--app", "app:create_app()", "run", "--port", "5001"], True),
        (["/venv/lib/python3.11/site-packages/flask/__main__.py", "-A", "app", "run"], True),
        (["/venv/bin/flask", "--app", "run", "routes"], False),  # an app module named "run"
        (["/venv/bin/flask", "-e", ".flaskenv", "db", "upgrade"], False),
        (["/venv/bin/flask", "--help"], False),
        (["/venv/bin/gunicorn", "app:app"], True),
    ],
)
def test_agents_are_registered_by_processes_that_serve(
    voker_server: Any, monkeypatch: pytest.MonkeyPatch, argv: list[str], registers: bool
) -> None:
    monkeypatch.setattr(sys, "argv", argv)
    app = Flask("argv")
    app.config.update(
        VOKER_API_KEY="test-key",
        VOKER_BASE_URL=voker_server.base_url,
        VOKER_AGENTS={"support-bot": {"description": "Answers"}},
    )
    Voker(app)
    own = app.extensions["voker"].own_client
    try:
        assert own.flush(5)
        names = [a["agent_name"] for a in voker_server.agents()]
        assert names == (["support-bot"] if registers else [])
    finally:
        own.close(5)
