"""Step: a Flask request queues a Celery task whose LLM call keeps the request's context.

``examples.celery_app.web`` is served over real HTTP; a logged-in customer opens a ticket, the view
queues ``summarize_ticket`` and answers at once with the Voker session and person of the request.
The task runs in the real worker process ``__main__`` started (a private ``redis-server`` as the
broker) or, without redis-server, eagerly in the request. Its ``llm`` event must land under that
same session and person.
"""

from __future__ import annotations

import time

import requests

from .runtime import Demo, StepFailed, StepResult
from .services import ThreadedWSGIServer

TICKET = "The invoice for March was charged twice to my card ending 4242."
TIMEOUT = 60.0


def run(demo: Demo) -> StepResult:
    where = "in a real worker process (Redis broker)" if demo.redis_url else "eagerly, no worker"
    demo.out.step("Celery: task queued from a request", f"runs {where}")
    from examples.celery_app.tasks import app as celery_app
    from examples.celery_app.web import create_app

    site = demo.stack.enter_context(ThreadedWSGIServer(create_app(), "celery-web"))
    with requests.Session() as browser:
        browser.post(f"{site.url}/login/maria", timeout=10).raise_for_status()
        response = browser.post(f"{site.url}/tickets", json={"text": TICKET}, timeout=60)
        response.raise_for_status()
    queued = response.json()
    demo.out.detail("maria", f"opens ticket {queued['ticket']}: {TICKET}")
    result = celery_app.AsyncResult(queued["task_id"])
    deadline = time.monotonic() + TIMEOUT
    while not result.ready():
        if demo.worker is not None and not demo.worker.alive:
            raise StepFailed(
                "the Celery worker exited before running the task; its log ends with:\n"
                + demo.worker.log_tail()
            )
        if time.monotonic() > deadline:
            raise StepFailed(f"the Celery task did not finish within {TIMEOUT:.0f} s")
        time.sleep(0.05)
    demo.out.detail("task", f"summary: {result.get(timeout=5)}")
    if demo.worker is not None:
        demo.worker.begin_stop()  # its shutdown overlaps the read-back; it still delivers
    return StepResult(
        "Celery",
        agent="ticket-triage",
        sessions={queued["voker_session"]},
        person=queued["voker_person"],
    )
