"""The Celery app of the example and its one task, ``summarize_ticket``.

Configured from the environment, so that the web process publishing tasks and the worker agree:

- ``DEMO_CELERY_BROKER``: broker URL (default ``memory://``), also the result backend when it is
  a ``redis://`` URL;
- ``DEMO_CELERY_EAGER=1``: run tasks in the publishing process (``task_always_eager``), for
  machines without a broker;
- ``VOKER_API_KEY`` / ``VOKER_BASE_URL``: where events go; ``OPENAI_API_KEY`` /
  ``OPENAI_BASE_URL``: the model server.

Worker::

    celery -A examples.celery_app.tasks worker --loglevel=INFO
"""

from __future__ import annotations

import functools
import os

from celery import Celery

from voker_core.ai.provider_openai import OpenAI
from voker_core.integrations.celery import instrument

MODEL = os.environ.get("DEMO_OPENAI_MODEL", "gpt-4.1-mini")

_broker = os.environ.get("DEMO_CELERY_BROKER", "memory://")

app = Celery(
    "voker_celery_example",
    broker=_broker,
    backend=_broker if _broker.startswith("redis://") else "cache+memory://",
)
app.conf.update(
    task_always_eager=os.environ.get("DEMO_CELERY_EAGER") == "1",
    task_store_eager_result=True,  # AsyncResult(task_id) works the same in both modes
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    result_expires=600,
)
# The one Voker line: tasks carry the publisher's session/person/agent and run inside them.
# flush_after_task: the event is on its way as soon as the task ends, not at worker shutdown.
instrument(app, flush_after_task=True)


@functools.cache
def _llm() -> OpenAI:
    # One client per worker process (created after the prefork, on first use).
    return OpenAI()


@app.task(name="examples.celery_app.summarize_ticket")
def summarize_ticket(ticket_id: str, text: str) -> str:
    """Summarise a ticket for the support team; no ``voker_*`` argument needed."""
    completion = _llm().chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "You triage support tickets for the team."},
            {"role": "user", "content": f"Summarise ticket {ticket_id} in one line: {text}"},
        ],
    )
    return completion.choices[0].message.content or ""
