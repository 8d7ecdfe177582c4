"""Internals of :mod:`voker_core.ai.provider_openai`, one job per module.

- :mod:`._typing`: the keyword ``TypedDict``s behind the typed ``create`` overloads;
- :mod:`._translate`: OpenAI objects to usage / model / finish reason / output, stream recorders;
- :mod:`._calls`: the steps of one wrapped call, shared by the sync and async resources;
- :mod:`._chat` / :mod:`._responses`: the wrapped ``chat.completions`` and ``responses``.
"""
