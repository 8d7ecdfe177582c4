"""A support-desk Flask app whose Claude calls Voker records per session, person and agent.

The only Voker-specific lines are ``voker.init_app(app)``, the ``person_loader`` and the
``voker.agent(...)`` on the billing blueprint; the Anthropic client is Voker's drop-in subclass,
so ``messages.create`` takes no extra arguments here.

Configuration comes from the environment: ``VOKER_API_KEY`` / ``VOKER_BASE_URL`` for Voker,
``ANTHROPIC_API_KEY`` / ``ANTHROPIC_BASE_URL`` for Claude (the walkthrough in ``__main__.py`` points
both at local servers). Run it yourself with::

    flask --app examples.flask_app.app run

Endpoints: ``POST /login/<username>`` (``ada`` or ``alan``), ``POST /logout``,
``POST /chat`` and ``POST /billing/ask`` with ``{"message": "..."}``. A client may also send its
own conversation id in the ``X-Voker-Session`` header.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Blueprint, Flask, abort, current_app, request, session

from voker_core.ai.provider_anthropic import Anthropic
from voker_flask import Voker

MODEL = os.environ.get("DEMO_MODEL", "claude-sonnet-4-5")

# Stand-in for a user table.
USERS = {
    "ada": {"id": "user-1", "name": "Ada Lovelace", "plan": "pro"},
    "alan": {"id": "user-2", "name": "Alan Turing", "plan": "free"},
}

voker = Voker()

support = Blueprint("support", __name__)
billing = Blueprint("billing", __name__, url_prefix="/billing")
voker.agent("billing-bot", version="v1")(billing)  # every billing request: the billing agent


@voker.person_loader
def current_person() -> tuple[str, dict[str, Any]] | None:
    """Who is asking: the logged-in user (Voker calls this only when a call is recorded)."""
    username = session.get("username")
    if username not in USERS:
        return None
    user = USERS[username]
    return user["id"], {"name": user["name"], "plan": user["plan"]}


def ask_claude(system: str) -> dict[str, str]:
    body = request.get_json(silent=True) or {}
    message = body.get("message")
    if not isinstance(message, str) or not message.strip():
        abort(400, "send JSON {'message': '...'}")
    llm: Anthropic = current_app.extensions["anthropic"]
    response = llm.messages.create(
        model=MODEL,
        max_tokens=300,
        system=system,
        messages=[{"role": "user", "content": message}],
    )
    text = "".join(block.text for block in response.content if block.type == "text")
    return {"reply": text}


@support.post("/login/<username>")
def login(username: str) -> dict[str, str]:
    if username not in USERS:
        abort(404)
    session["username"] = username
    return {"logged_in": username}


@support.post("/logout")
def logout() -> dict[str, bool]:
    session.pop("username", None)
    return {"logged_out": True}


@support.post("/chat")
def chat() -> dict[str, str]:
    return ask_claude("You are a friendly support agent.")


@billing.post("/ask")
def billing_question() -> dict[str, str]:
    return ask_claude("You answer questions about invoices.")


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The app factory."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=os.environ.get("FLASK_SECRET_KEY", "dev-only-secret-change-me"),
        VOKER_AGENT="support-bot",
        VOKER_AGENT_VERSION="v1",
        VOKER_AGENTS={
            "support-bot": {
                "description": "Answers support questions",
                "versions": {"v1": "first prompt"},
            },
            "billing-bot": {"description": "Explains invoices", "versions": {"v1": "first prompt"}},
        },
    )
    app.config.update(config or {})
    voker.init_app(app)
    # One provider client per app (thread-safe, keeps its connections).
    app.extensions["anthropic"] = Anthropic()
    app.register_blueprint(support)
    app.register_blueprint(billing)
    return app
