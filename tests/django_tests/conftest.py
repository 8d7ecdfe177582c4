"""pytest-django set-up for this directory only, plus the fixtures of the Django tests.

pytest-django is active for the whole suite, but the other test packages must not depend on
Django. So no global ``DJANGO_SETTINGS_MODULE`` (in pyproject or in the environment, where
subprocesses would inherit it — Celery, for one, switches on its Django fix-up when it sees it):
this conftest configures Django from the test project's settings module with
``settings.configure()`` and sets it up when pytest first imports it — during collection for a
whole-suite run, before ``pytest_configure`` when this directory is given on the command line
(pytest-django then finishes its own set-up). Either way pytest-django sees configured settings
when the first test runs (``django_test_environment``, ``db``, ``client`` fixtures...). The test
project names no Voker API key and no agents, so setting Django up changes nothing for the other
tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import django
import pytest
from django.conf import settings

if not settings.configured:
    from tests.django_tests.project import settings as project_settings

    settings.configure(**{k: v for k, v in vars(project_settings).items() if k.isupper()})
django.setup()


@pytest.fixture
def voker(default_voker_client: Any, voker_server: Any) -> Any:
    """The test's devserver, with the process-wide Voker client delivering to it."""
    return voker_server


@pytest.fixture
def llm(fake_llm: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The fake OpenAI server, where the views' OpenAI clients send their requests."""
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.openai_base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    yield fake_llm


@pytest.fixture
def make_user(django_user_model: Any) -> Any:
    def make(username: str = "ada", **fields: Any) -> Any:
        fields.setdefault("email", f"{username}@example.com")
        return django_user_model.objects.create_user(
            username=username, password="correct horse", **fields
        )

    return make
