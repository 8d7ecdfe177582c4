"""Voker for LangChain and LangGraph: one callback handler turns runs into Voker events.

    from voker_langchain import VokerCallbackHandler

    graph.invoke(inputs, config={
        "callbacks": [VokerCallbackHandler(agent="support-bot")],
        "configurable": {"thread_id": "conv-42"},      # the Voker session, unless set otherwise
    })

See :mod:`voker_langchain.handler` for the events recorded and where sessions, agents and
people come from. Requires ``langchain-core`` (``pip install 'voker-integrations[langchain]'``).
"""

try:
    import langchain_core  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "voker_langchain needs langchain-core: pip install 'voker-integrations[langchain]'"
    ) from exc

from voker_langchain.handler import VokerCallbackHandler

__all__ = ["VokerCallbackHandler"]
