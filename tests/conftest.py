"""Fixtures shared by the whole suite.

Most come from our own pytest plugin (``voker_core.testing``): ``voker_server``, ``voker_env``,
``voker_client``, ``default_voker_client`` and ``fake_llm``. The Celery fixtures (a private
redis-server, worker processes) are registered here once for every package that uses them, so a
test session runs one broker however many packages ask for it.
"""

pytest_plugins = ["tests.celery_tests.fixtures"]
