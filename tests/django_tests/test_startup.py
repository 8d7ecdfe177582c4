"""Start-up: ``AGENTS`` registered once per serving process; ``voker_register_agents``."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from voker_django.agents import should_register_at_startup

ROOT = Path(__file__).resolve().parents[2]

AGENTS = {
    "support-bot": {
        "description": "Answers support questions",
        "versions": {"v1": "first prompt", "v2": "shorter answers"},
    },
    "billing-bot": {"description": "Explains invoices"},
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def project_env(voker_server: Any, tmp_path: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("RUN_MAIN", "DJANGO_SETTINGS_MODULE") and not key.startswith("PYTEST")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="tests.django_tests.project.settings_agents",
        VOKER_API_KEY="test-key",
        VOKER_BASE_URL=voker_server.base_url,
        VOKER_TEST_DB=str(tmp_path / "db.sqlite3"),
        PYTHONPATH=str(ROOT),
    )
    return env


@contextmanager
def runserver(project_env: dict[str, str]) -> Iterator[str]:
    """``python -m django runserver`` with its auto-reloader (a watching parent and a serving
    child), in its own process group so that both are stopped after the test."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "django", "runserver", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=project_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def _serving_url(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_agents_registered_once_by_the_serving_process(
    voker_server: Any, project_env: dict[str, str]
) -> None:
    # A management command that serves no request registers nothing.
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "-v", "0"],
        cwd=ROOT,
        env=project_env,
        check=True,
        timeout=120,
    )
    assert voker_server.request_count() == 0

    with runserver(project_env) as url:
        _wait(lambda: _serving_url(url + "/nothing/"), 60, "runserver to serve")
        _wait(lambda: len(voker_server.agent_versions("support-bot")) == 2, 20, "the agents")
        time.sleep(1.5)  # room for a second registration, if the reloader's parent made one
        requests = voker_server.request_count()
    # One process talked to Voker (each client announces its fingerprint first), and sent two
    # agents and two versions once: the reloader's parent registered nothing.
    assert len(voker_server.fingerprints()) == 1
    assert requests == 1 + 4
    agents = {a["agent_name"]: a for a in voker_server.agents()}
    assert set(agents) == {"support-bot", "billing-bot"}
    assert agents["support-bot"]["description"] == "Answers support questions"
    versions = {v["agent_version_name"]: v for v in voker_server.agent_versions("support-bot")}
    assert versions["v2"]["description"] == "shorter answers"


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        (["gunicorn", "project.wsgi"], {}, True),
        (["uvicorn", "project.asgi:application"], {}, True),
        (["celery", "-A", "project", "worker"], {}, True),
        (["manage.py", "migrate"], {}, False),
        (["manage.py", "shell"], {}, False),
        (["manage.py", "voker_register_agents"], {}, False),
        (["manage.py", "runserver"], {}, False),  # the auto-reloader's parent
        (["manage.py", "runserver"], {"RUN_MAIN": "true"}, True),  # its serving child
        (["manage.py", "runserver", "--noreload"], {}, True),
        (["/venv/bin/django-admin", "runserver", "0:8000"], {"RUN_MAIN": "true"}, True),
        (["/x/site-packages/django/__main__.py", "check"], {}, False),
        ([], {}, True),
    ],
)
def test_start_up_rule(argv: list[str], environ: dict[str, str], expected: bool) -> None:
    assert should_register_at_startup(argv, environ) is expected


def test_register_agents_command(voker_server: Any) -> None:
    out = io.StringIO()
    voker = {"API_KEY": "k", "BASE_URL": voker_server.base_url, "AGENTS": AGENTS}
    with override_settings(VOKER=voker):
        call_command("voker_register_agents", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "support-bot: agent #1, versions v1 (#1), v2 (#2)"
    assert lines[1] == "billing-bot: agent #2"
    assert lines[2] == f"Registered 2 agent(s) with Voker at {voker_server.base_url}."
    assert [a["agent_name"] for a in voker_server.agents()] == ["support-bot", "billing-bot"]
    assert [v["agent_version_name"] for v in voker_server.agent_versions("support-bot")] == [
        "v1",
        "v2",
    ]


def test_register_agents_command_reports_failures(
    voker_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VOKER_API_KEY", raising=False)
    with override_settings(VOKER={"BASE_URL": voker_server.base_url, "AGENTS": AGENTS}):
        with pytest.raises(CommandError, match="API key"):
            call_command("voker_register_agents", stdout=io.StringIO())
    voker_server.stop()
    voker = {"API_KEY": "k", "BASE_URL": voker_server.base_url, "AGENTS": AGENTS}
    with override_settings(VOKER=voker):
        with pytest.raises(CommandError, match="could not be registered"):
            call_command("voker_register_agents", stdout=io.StringIO(), stderr=io.StringIO())
