"""The app's start-up hooks: the Celery hook, and the decorator's argument checks."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
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


def test_every_setting_is_a_row_of_the_settings_table_in_the_docs() -> None:
    # A paragraph inside a Markdown table ends it: the rows after it render as stray text.
    from voker_django.conf import KNOWN_KEYS

    docs = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
    lines = docs.read_text(encoding="utf-8").splitlines()
    start = lines.index("## Django: `settings.VOKER`")
    header = next(i for i in range(start, len(lines)) if lines[i].startswith("| key |"))
    table = itertools.takewhile(lambda line: line.startswith("|"), lines[header + 2 :])
    documented = {m.group(1) for line in table if (m := re.match(r"\| `(\w+)` \|", line))}
    assert documented == set(KNOWN_KEYS)
