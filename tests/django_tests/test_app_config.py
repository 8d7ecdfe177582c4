"""The app's start-up hooks: the Celery hook, and the decorator's argument checks."""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery
from django.apps import apps

import voker_core
import voker_django
from voker_core.integrations.celery import HEADER


def test_celery_hook_makes_published_tasks_carry_the_context() -> None:
    apps.get_app_config("voker_django").celery()  # what ready() runs when VOKER["CELERY"] is on
    app = Celery("voker-django-test", broker="memory://", set_as_current=False)
    with voker_core.context(session="conv-1", agent="support-bot", person="user-1"):
        app.send_task("demo.task", args=(1,))
    with app.connection_for_read() as connection:
        message = connection.SimpleQueue("celery").get(timeout=5)
    assert message.headers[HEADER] == {
        "session": "conv-1",
        "agent": "support-bot",
        "person": "user-1",
    }


@pytest.mark.parametrize(("name", "version"), [("", None), ("bot", ""), (None, None)])
def test_agent_decorator_rejects_bad_names(name: Any, version: Any) -> None:
    with pytest.raises(ValueError, match=r"voker_django\.agent"):
        voker_django.agent(name, version=version)


def test_agent_decorator_rejects_non_views() -> None:
    with pytest.raises(TypeError):
        voker_django.agent("bot")(42)
