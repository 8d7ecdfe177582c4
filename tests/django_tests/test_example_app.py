"""The example project (``examples/django_app``, used by ``make demo``) works as its README says:
migrate, runserver, chat — and the event lands on the devserver with the visitor's session."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings

from tests.django_tests.test_startup import _free_port, _serving_url, _wait
from voker_django import session_id_for

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "django_app"


@pytest.mark.slow
def test_example_app_chat_lands_on_the_devserver(
    voker_server: Any, fake_llm: Any, tmp_path: Path
) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("RUN_MAIN", "DJANGO_SETTINGS_MODULE") and not key.startswith("PYTEST")
    }
    env.update(
        VOKER_BASE_URL=voker_server.base_url,
        VOKER_API_KEY="demo-key",
        OPENAI_BASE_URL=fake_llm.openai_base_url,
        OPENAI_API_KEY="fake-openai-key",
        DEMO_DB=str(tmp_path / "demo.sqlite3"),
        # This process's SECRET_KEY, so session_id_for() here gives the site's Voker session id.
        DJANGO_SECRET_KEY=settings.SECRET_KEY,
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=EXAMPLE, env=env, check=True, timeout=120)
    port = _free_port()
    process = subprocess.Popen(
        [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=EXAMPLE,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait(lambda: _serving_url(url + "/"), 60, "the example site")
        with httpx.Client(base_url=url, timeout=10) as browser:
            page = browser.get("/")
            [token] = re.findall(r'"X-CSRFToken": "([^"]+)"', page.text)
            reply = browser.post(
                "/chat/", json={"message": "hi demo"}, headers={"X-CSRFToken": token}
            )
            assert reply.json() == {"reply": "Echo: hi demo"}
            session = session_id_for(browser.cookies["sessionid"])
        [event] = voker_server.wait_for_events(1, event_name="llm")
    finally:
        process.terminate()
        process.wait(10)
    assert (event["session"], event["agent"], event["agent_version"]) == (
        session,
        "demo-chat",
        "v1",
    )
    assert event["properties"]["output"]["choices"][0]["message"]["content"] == "Echo: hi demo"
    # Registered at start-up with the settings' descriptions.
    [agent] = voker_server.agents()
    assert (agent["agent_name"], agent["description"]) == (
        "demo-chat",
        "The demo site's chat assistant",
    )
    [version] = voker_server.agent_versions("demo-chat")
    assert (version["agent_version_name"], version["description"]) == (
        "v1",
        "Answers in one short paragraph",
    )
