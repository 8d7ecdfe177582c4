"""Voker for Flask: ``Voker(app)`` gives every LLM call in a request its session, person and agent.

::

    from flask import Flask
    from voker_flask import Voker
    from voker_core.ai.provider_openai import OpenAI

    app = Flask(__name__)
    app.config.update(SECRET_KEY="change-me", VOKER_AGENT="support-bot")
    voker = Voker(app)                   # or Voker() + voker.init_app(app) in an app factory
    llm = OpenAI()

    @app.post("/chat")
    def chat():
        # no voker_* arguments: session, person and agent come from the request
        reply = llm.chat.completions.create(model="gpt-4.1-mini", messages=[...])
        return {"reply": reply.choices[0].message.content}

Configuration keys: :mod:`voker_flask.config`. Sessions: :mod:`voker_flask.sessions`. People:
:mod:`voker_flask.people`. Per-view and per-blueprint agents, and ``@voker.streams_llm`` for a
view whose streamed body calls a model: :mod:`voker_flask.agents`.
"""

try:
    import flask  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("voker_flask needs Flask: pip install 'voker-integrations[flask]'") from exc

from voker_flask.extension import Voker, VokerState

__all__ = ["Voker", "VokerState"]
