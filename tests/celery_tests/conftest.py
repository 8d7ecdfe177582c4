"""The Celery tests' fixtures live in :mod:`tests.celery_tests.fixtures` (shared with Django's)."""

from tests.celery_tests.fixtures import (  # noqa: F401
    celery_app,
    redis_url,
    start_worker,
    worker_env,
)
