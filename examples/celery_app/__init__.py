"""Example: a Celery task queued from a Flask request keeps the request's Voker context.

``tasks.py`` is the Celery app (``instrument(app)`` is its one Voker line) with a task that asks
the wrapped OpenAI client to summarise a support ticket; ``web.py`` is a small Flask help desk
whose ``POST /tickets`` view queues that task. The task's ``llm`` event lands under the session,
person and agent of the request that queued it, although it runs in a worker process.

Run a worker yourself (Redis on localhost; the demo starts its own)::

    DEMO_CELERY_BROKER=redis://127.0.0.1:6379/0 celery -A examples.celery_app.tasks worker

``python -m examples.demo`` plays it end to end, with a real worker when ``redis-server`` is
installed, else with ``task_always_eager``.
"""
