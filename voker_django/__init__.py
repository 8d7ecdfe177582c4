"""Voker for Django: one middleware line ties every LLM call of a request to its visitor.

::

    INSTALLED_APPS += ["voker_django"]
    MIDDLEWARE += ["voker_django.middleware.VokerMiddleware"]   # after session + auth middleware
    VOKER = {"AGENT": "support-bot"}                            # API key: VOKER_API_KEY

    @voker_django.agent("billing-bot")          # a view's own agent (function or class, sync or async)
    def invoices(request): ...

    @voker_django.streams_llm                   # a streaming view whose body calls a model
    def chat_stream(request): ...

    voker_django.session_id_for(request.session.session_key)   # a browser's Voker session id

See :mod:`voker_django.conf` for every setting, :mod:`voker_django.middleware` for what a
request gets, and :mod:`voker_django.agents` for when ``AGENTS`` are registered.
"""

try:
    import asgiref  # noqa: F401 - shipped with Django; imported by the modules below
    import django  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "voker_django needs Django: pip install 'voker-integrations[django]'"
    ) from exc

from voker_django.decorators import agent, streams_llm
from voker_django.sessions import session_id_for

__all__ = ["agent", "session_id_for", "streams_llm"]
