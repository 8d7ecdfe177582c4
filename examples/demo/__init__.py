"""``make demo`` / ``python -m examples.demo``: the whole product, offline, in under a minute.

No account, no API keys, no network. The walkthrough starts a local Voker devserver (database
``.voker/demo.sqlite3``, reset at each run, so ``make devserver`` can show it afterwards) and a
stand-in model server speaking the OpenAI and Anthropic APIs with scripted support replies (the real
provider is used instead when ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY`` is set), then plays:

1. a logged-in user chatting through the Django example (wrapped OpenAI client);
2. an anonymous visitor through the Flask example (wrapped Anthropic client);
3. the LangChain tool-calling agent;
4. a Celery task queued from a Flask request (a real worker on a private ``redis-server`` when one
   is installed, else ``task_always_eager``), its LLM call filed under the request's session.

It then reads everything back from the devserver, prints a table of sessions and the dashboard
URL, and exits 0 — or 1 naming the step that recorded nothing. Every server and worker it started
is stopped on the way out, Ctrl-C included.

Modules: ``__main__`` (command line and orchestration), ``services`` (servers and processes),
``stand_in`` (the scripted model replies), ``step_*`` (one per framework), ``django_settings`` /
``django_urls`` (the Django example plus a login endpoint), ``summary`` (read back, check, table),
``runtime`` (what steps share), ``console`` (progress output). Options: ``--db PATH``,
``--offline`` (ignore provider keys), ``--serve`` (keep the dashboard up), ``--verbose``.
"""
