"""Runnable examples of voker-integrations; ``make demo`` plays them all (``examples.demo``).

- ``django_app``: a Django chat site with ``voker_django`` and the wrapped OpenAI client;
- ``flask_app``: a Flask support desk with ``voker_flask`` and the wrapped Anthropic client;
- ``langchain_agent``: a tool-calling LangChain agent with ``VokerCallbackHandler``;
- ``celery_app``: a Flask view queueing a Celery task whose LLM call keeps the request's context;
- ``demo``: the offline walkthrough of all four against a local Voker devserver.
"""
