"""The Celery app the Celery tests run in a real worker process (and eagerly in-process).

Configured from the environment so that the test process and the worker agree:
``VOKER_TEST_BROKER`` (Redis URL; ``memory://`` when unset), ``VOKER_BASE_URL``/``VOKER_API_KEY``
(the devserver) and ``OPENAI_BASE_URL`` (the fake LLM server).
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Celery, Task

import voker_core
from voker_core.ai.provider_openai import OpenAI
from voker_core.integrations.celery import instrument

app = Celery(
    "voker_celery_tests",
    broker=os.environ.get("VOKER_TEST_BROKER", "memory://"),
    backend=os.environ.get("VOKER_TEST_BACKEND", "cache+memory://"),
)
app.conf.update(
    task_always_eager=os.environ.get("VOKER_TEST_EAGER") == "1",
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    result_expires=300,
)
instrument(app, flush_after_task=os.environ.get("VOKER_TEST_FLUSH_AFTER_TASK") == "1")


def _llm() -> OpenAI:
    return OpenAI(api_key="sk-fake", base_url=os.environ.get("OPENAI_BASE_URL"), max_retries=0)


@app.task
def ask(question: str) -> str:
    """One wrapped LLM call; session, agent and person come from the task's Voker context."""
    reply = _llm().chat.completions.create(
        model="gpt-4.1-mini", messages=[{"role": "user", "content": question}]
    )
    return reply.choices[0].message.content or ""


@app.task
def ask_then(previous: str, question: str) -> str:
    """A chain step: asks again, with the previous step's answer in the prompt."""
    return ask(f"{previous} / {question}")


@app.task
def custom_event(name: str) -> dict[str, Any]:
    """Records a custom event with an explicit session and reports the context it ran in."""
    ctx = voker_core.current_context()
    voker_core.get_client().events.create(
        event_name=name, properties={"seen_agent": ctx.agent}, session=ctx.session or "no-context"
    )
    return {"session": ctx.session, "agent": ctx.agent, "person": ctx.person}


@app.task(bind=True, max_retries=2, default_retry_delay=0)
def flaky(self: Any, question: str) -> str:
    """Fails on the first attempt, then asks: the retry must keep the context."""
    if self.request.retries == 0:
        raise self.retry(exc=RuntimeError("first attempt fails"))
    return ask(question)


class _SlowRetryHook(Task):
    """Does I/O when a retry is scheduled (an error tracker, say), so the retry - same task id,
    already published - starts on another pool thread while the first attempt is still running."""

    def on_retry(self, exc: Any, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        time.sleep(0.5)


@app.task(bind=True, base=_SlowRetryHook, max_retries=1, default_retry_delay=0)
def flaky_event(self: Any, name: str) -> dict[str, Any]:
    """Fails on the first attempt; the retry records ``name`` like :func:`custom_event`."""
    if self.request.retries == 0:
        raise self.retry(exc=RuntimeError("first attempt fails"))
    return custom_event(name)


@app.task
def summarise(answers: list[str]) -> str:
    """A chord callback: one more LLM call over the header tasks' answers."""
    return ask("summary of: " + " | ".join(answers))
