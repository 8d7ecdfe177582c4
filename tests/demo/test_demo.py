"""``python -m examples.demo`` (``make demo``) runs end to end offline and records every step.

The demo runs as a subprocess, as ``make demo`` runs it, on a temporary database (never the
user's ``.voker/demo.sqlite3``) and with the provider keys removed, so it uses the stand-in model
server even on a machine with real keys. What it claims is then checked in its database.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from examples.demo import step_django
from voker_core.devserver import DevServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
STEPS = ("Django", "Flask", "LangChain", "Celery")


def _env() -> dict[str, str]:
    """The caller's environment minus anything that would change what the demo talks to."""
    dropped = ("OPENAI_", "ANTHROPIC_", "VOKER_", "DJANGO_", "DEMO_", "PYTEST")
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped)}


def _demo(db: Path) -> list[str]:
    return [sys.executable, "-m", "examples.demo", "--db", str(db)]


def _stored(db: Path) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Every event and person in the demo's database (read directly, no server)."""
    reader = DevServer(db)
    try:
        return reader.events(), {p["person_id"]: p["properties"] for p in reader.people()}
    finally:
        reader.close()


@pytest.mark.timeout(300)
def test_demo_runs_offline_prints_the_table_and_records_every_step(tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite3"
    db.write_bytes(b"left over from an earlier run")  # the demo must reset it
    started = time.monotonic()
    result = subprocess.run(
        _demo(db), cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=240
    )
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert result.stderr == "", "library log lines leaked into the demo's output"

    # A progress line per step, the table with a row per session, the dashboard and the hint.
    assert [int(n) for n in re.findall(r"^\[(\d)/8\]", result.stdout, re.M)] == list(range(1, 9))
    assert re.search(r"^step\s+session\s+agent\s+person\s+events\s+llm\s+tokens", output, re.M)
    table = {
        line.split()[0]: line.split()
        for line in result.stdout.splitlines()
        if line.split() and line.split()[0] in STEPS
    }
    assert set(table) == set(STEPS), output
    assert table["Django"][2:4] == ["demo-chat/v1", "1"]
    assert table["Flask"][2:4] == ["support-bot/v1", "anonymous"]
    assert re.search(r"^Dashboard:\s+http://127\.0\.0\.1:\d+/", output, re.M)
    assert "Browse later:" in output and f"--db {db}" in output
    if shutil.which("redis-server"):
        assert "runs in a real worker process" in output
    else:
        assert "runs eagerly" in output
    assert "Echo:" not in output  # the stand-in answers like a support desk

    events, people = _stored(db)
    llm = [e for e in events if e["event_name"] == "llm"]

    def of(agent: str) -> list[dict[str, Any]]:
        return [e for e in llm if e["agent"] == agent]

    # Django: 3 turns of one logged-in user, one session, OpenAI through the wrapper.
    django = of("demo-chat")
    assert len(django) == 3 and len({e["session"] for e in django}) == 1
    assert {(e["person"], e["agent_version"]) for e in django} == {("1", "v1")}
    assert {e["properties"]["provider"] for e in django} == {"openai"}
    assert people["1"]["username"] == "grace" and "password" not in people["1"]
    assert [e["properties"]["inputs"]["messages"][-1]["content"] for e in django] == list(
        step_django.TURNS
    )  # the conversation in order
    # Flask: an anonymous visitor, 2 turns in one session, Anthropic through the wrapper.
    flask = of("support-bot")
    assert len(flask) == 2 and len({e["session"] for e in flask}) == 1
    assert {e["person"] for e in flask} == {None}
    assert {e["properties"]["api"] for e in flask} == {"anthropic-messages"}
    # LangChain: 4 model calls, 3 tool calls and 2 agent runs in one session.
    session = of("weather-bot")[0]["session"]
    names = [e["event_name"] for e in events if e["session"] == session]
    assert (names.count("llm"), names.count("tool"), names.count("chain")) == (4, 3, 2)
    # Celery: the worker's call is filed under the session and person of the queueing request.
    (task_call,) = of("ticket-triage")
    assert task_call["person"] == "customer-17"
    assert people["customer-17"]["name"] == "Maria Garcia"
    assert task_call["session"] not in {e["session"] for e in django + flask}
    assert task_call["properties"]["output"]["choices"][0]["message"]["content"].startswith(
        "Duplicate charge"
    )
    # Four sessions in all, each with token usage.
    assert len({e["session"] for e in events}) == 4
    assert all(e["properties"]["usage"]["total_tokens"] > 0 for e in llm)
    assert elapsed < 120, f"the demo took {elapsed:.0f} s"


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree from /proc")
def test_ctrl_c_stops_every_server_and_worker_the_demo_started(tmp_path: Path) -> None:
    process = subprocess.Popen(
        _demo(tmp_path / "demo.sqlite3"),
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        assert process.stdout is not None
        for line in process.stdout:  # wait until the worker and redis-server are up
            lines.append(line)
            if line.startswith("[4/8]"):
                break
        started = _descendants(process.pid)
        if shutil.which("redis-server"):
            assert len(started) >= 2, "".join(lines)  # redis-server and the Celery worker
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, "".join(lines) + rest
    assert "interrupted: stopping everything the demo started" in rest
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in started if _alive(pid)]
