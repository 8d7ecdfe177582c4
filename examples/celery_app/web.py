"""A help desk in Flask whose ``POST /tickets`` queues ``summarize_ticket`` on Celery.

``Voker(app)`` gives each request a context (session from Flask's session, person from the logged-in
user, agent ``ticket-triage``); the Celery integration carries it in the task message, so the
worker's LLM call is filed under this visitor's conversation. Endpoints:

- ``POST /login/<username>`` (``maria``);
- ``POST /tickets`` with ``{"text": "..."}``: queues the summary and answers ``202`` with
  ``{ticket, task_id, voker_session, voker_person}`` (the last two: what the task will carry).

Run it with ``flask --app examples.celery_app.web:create_app run`` beside a worker.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from flask import Flask, abort, request, session

import voker_core
from voker_flask import Voker

from .tasks import summarize_ticket

USERS = {"maria": {"id": "customer-17", "name": "Maria Garcia", "plan": "business"}}

voker = Voker()
_ticket_numbers = itertools.count(5001)


@voker.person_loader
def current_person() -> tuple[str, dict[str, Any]] | None:
    user = USERS.get(session.get("username", ""))
    return (user["id"], {"name": user["name"], "plan": user["plan"]}) if user else None


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The app factory."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=os.environ.get("FLASK_SECRET_KEY", "dev-only-secret-change-me"),
        VOKER_AGENT="ticket-triage",
        VOKER_AGENT_VERSION="v1",
        VOKER_AGENTS={
            "ticket-triage": {
                "description": "Summarises new tickets in a Celery task",
                "versions": {"v1": "one-line summary"},
            }
        },
    )
    app.config.update(config or {})
    voker.init_app(app)

    @app.post("/login/<username>")
    def login(username: str) -> dict[str, str]:
        if username not in USERS:
            abort(404)
        session["username"] = username
        return {"logged_in": username}

    @app.post("/tickets")
    def open_ticket() -> tuple[dict[str, Any], int]:
        text = (request.get_json(silent=True) or {}).get("text")
        if not isinstance(text, str) or not text.strip():
            abort(400, "send JSON {'text': '...'}")
        ticket = f"T-{next(_ticket_numbers)}"
        result = summarize_ticket.delay(ticket, text)  # the Voker context travels with it
        ctx = voker_core.current_context()
        return {
            "ticket": ticket,
            "task_id": result.id,
            "voker_session": ctx.session,
            "voker_person": ctx.resolve_person(),
        }, 202

    return app
